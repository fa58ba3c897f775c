"""Robustness (issue 16): codings, bad queries, saved-model integrity and privacy.

Flow fits here are tiny (N <= 500, a few epochs): they check behaviour, not accuracy.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import medflow as mf
from medflow.model import load


def binary_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = (x + rng.normal(size=n) > 0).astype(float)
    y = (0.5 * x + m + rng.normal(size=n) > 0.5).astype(float)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


def fit_of(data, model="M ~ X; Y ~ X + M", epochs=3, **kw):
    return mf.CausalFlow(model, data, **kw).fit(seed=0, verbose=False, epochs=epochs)


# ------------------------------------------------------------------ codings
def test_effects_are_invariant_to_affine_recoding_of_binary_variables():
    df = binary_data()
    base = fit_of(df)
    recoded = df.assign(M=df["M"] - 0.5, Y=(df["Y"] - df["Y"].mean()) / df["Y"].std())
    other = fit_of(recoded)
    assert base.encoding.discrete == other.encoding.discrete == ("M", "Y")
    opts = dict(mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
    e0 = base.effects("X", "Y", **opts).params
    e1 = other.effects("X", "Y", **opts).params
    assert np.allclose(e1 * df["Y"].std(), e0, atol=2e-3)
    # counterfactual mediators stay on the data's two values
    cf = other.counterfactual(recoded.head(50), do={"X": 1.0})
    assert set(np.unique(cf["M"])) <= {-0.5, 0.5}
    assert set(np.round(np.unique(cf["Y"]), 12)) <= set(np.round(np.unique(recoded["Y"]), 12))
    with pytest.raises(ValueError, match=r"^M is discrete and takes the grid -0.5 \+ k \* 1: do= "
                                         r"cannot set it to 0\.$"):
        other.sample(5, do={"M": 0.0})
