"""Build the bundled synthetic Blau–Duncan data set and its causal truths.

Writes to python/medflow/data/:

* ``blau_duncan_synthetic.csv``: 20,700 men drawn from the "blau_duncan"
  structural causal model (``_BlauDuncanSCM`` in python/medflow/datasets.py,
  calibrated by calibrate_blau_duncan.py), seed 1967; exactly
  ``medflow.datasets.simulate("blau_duncan", 20700, seed=1967).data``.
* ``blau_duncan_truth.csv``: the effects of X on Y at X's 75th vs 25th
  population percentile (33 vs 11), from 4 million Monte Carlo units evaluated
  in every counterfactual world with the same noise (``truth``, ``truth_sd``,
  ``mc_error``; ``sd_y`` = population SD of Y), and the same effects averaged
  over the 20,700 bundled men with their own noise (``sample_truth``,
  ``sample_truth_sd``, divided by the sample SD of Y).

    nice -n 10 /work/venv/bin/python data-raw/blau_duncan_synthetic.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medflow.datasets import _BUNDLED_N, _BUNDLED_SEED, blau_duncan_correlations
from medflow.simulation import _draw
from medflow.simulation.designs import _SCMS
from medflow.simulation.truth import _mc_truth, _sample_truth

OUT = Path(__file__).resolve().parents[1] / "python" / "medflow" / "data"
N_MC = 4_000_000
MC_SEED = 19670169
FRESH_SEED = 20700


def main() -> None:
    scm = _SCMS["blau_duncan"]
    eps, data = _draw(scm, _BUNDLED_N, _BUNDLED_SEED)
    gap = (data.corr() - blau_duncan_correlations()).abs().to_numpy().max()
    if gap >= 0.03:
        raise SystemExit(f"The draw's correlations are {gap:.3f} from the published ones (limit 0.03).")
    a, a_ref = scm.default_contrast()
    quartiles = data["X"].quantile([0.75, 0.25]).to_numpy()
    if not np.array_equal(quartiles, [a, a_ref]):
        raise SystemExit(f"Sample quartiles of X {quartiles} differ from the population ones {(a, a_ref)}.")
    data.to_csv(OUT / "blau_duncan_synthetic.csv", index=False, lineterminator="\n")

    truth = _mc_truth(scm, a, a_ref, n_mc=N_MC, seed=MC_SEED)
    sample = _sample_truth(scm, eps, float(data["Y"].std()), a, a_ref, seed=FRESH_SEED)
    table = truth.assign(sample_truth=sample["truth"], sample_truth_sd=sample["truth_sd"],
                         sd_y=truth.attrs["sd_y"], n_mc=N_MC)
    table.to_csv(OUT / "blau_duncan_truth.csv", index=False, float_format="%.10g", lineterminator="\n")
    print(f"max |r - published| = {gap:.4f}; contrast X = {a:g} vs {a_ref:g}; SD(Y) = {truth.attrs['sd_y']:.4f}")
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
