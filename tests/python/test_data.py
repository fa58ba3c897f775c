"""Input checks and encoding: one clear error per problem, nothing dropped silently."""

import numpy as np
import pandas as pd
import pytest

from medflow import CausalFlow
from medflow.dag import DAG
from medflow.data import prepare

G = DAG.from_syntax("M ~ X; Y ~ X + M")


def frame(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"X": rng.integers(0, 2, n), "M": rng.normal(size=n),
                         "Y": rng.normal(size=n), "other": ["a"] * n})


def test_types_and_overrides():
    enc, clean = prepare(G, frame())
    assert enc.variables == ("X", "M", "Y") and enc.discrete == ("X",)
    assert list(clean.columns) == ["X", "M", "Y"]          # unused column ignored
    enc2, _ = prepare(G, frame(), continuous=["X"])
    assert enc2.discrete == ()
    with pytest.raises(ValueError, match="discrete= names M, but they have non-integer values"):
        prepare(G, frame(), discrete=["M"])
    with pytest.raises(ValueError, match="continuous= names Z, which are not model variables"):
        prepare(G, frame(), continuous=["Z"])


def test_standardization_round_trip():
    enc, clean = prepare(G, frame())
    z = enc.standardize(clean.to_numpy())
    assert np.allclose(enc.destandardize(z), clean.to_numpy())
    assert abs(z[:, 1].mean()) < 1e-12 and abs(z[:, 1].std() - 1) < 1e-12


def test_missing_values_error_and_drop():
    df = frame()
    df.loc[[1, 2], "M"] = np.nan
    df.loc[5, "Y"] = np.nan
    with pytest.raises(ValueError, match=r"missing values \(M: 2, Y: 1\).*missing='drop'"):
        prepare(G, df)
    with pytest.warns(UserWarning, match=r"Dropped 3 of 100 rows with missing values \(M: 2, Y: 1\)"):
        _, clean = prepare(G, df, missing="drop")
    assert len(clean) == 97


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns="M"), r"The model variable\(s\) M are not columns of the data"),
    (lambda d: d.assign(M="x"), r"Model variables must be numeric; not numeric: M \(object|str"),
    (lambda d: d.assign(Y=np.where(np.arange(100) == 3, np.inf, 0.5 + np.arange(100))),
     r"The data have non-finite values \(Y: 1\)"),
    (lambda d: d.assign(M=1.5), r"The column\(s\) M are constant"),
    (lambda d: d.iloc[:30], r"The data have 30 complete rows; a flow needs at least 50"),
])
def test_bad_data(mutate, message):
    with pytest.raises(ValueError, match=message):
        prepare(G, mutate(frame()))


def test_model_variable_missing_from_data_through_the_model_api():
    with pytest.raises(ValueError, match=r"The model variable\(s\) Z are not columns of the data"):
        CausalFlow("Y ~ X + Z", frame())
