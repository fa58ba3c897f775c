"""Compute the shipped causal truths of the Monte Carlo validation models.

Writes python/medflow/data/dgp_truths.csv: for "nonlinear", "rdiff",
"nonmonotone" and the monotone twin of "nonmonotone" ("nonmonotone_twin",
same observed distribution, monotone in every noise), the effects of X on Y at
X's 75th vs 25th population percentile from 4 million Monte Carlo units with
shared noise across worlds. "linear" (path tracing) and "discrete"
(enumeration) have exact truths computed on the fly and are not stored; the
bundled "blau_duncan" truths are written by blau_duncan_synthetic.py.

    nice -n 10 /work/venv/bin/python data-raw/dgp_truths.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medflow.simulation.designs import _MONOTONE_TWIN, _SCMS
from medflow.simulation.truth import _mc_truth

OUT = Path(__file__).resolve().parents[1] / "python" / "medflow" / "data" / "dgp_truths.csv"
N_MC = 4_000_000
#: One Monte Carlo seed per model (the twin shares the nonmonotone model's seed).
SEEDS = {"nonlinear": 101, "rdiff": 102, "nonmonotone": 103, "nonmonotone_twin": 103}


def main() -> None:
    frames = []
    for name, seed in SEEDS.items():
        scm = _MONOTONE_TWIN if name == _MONOTONE_TWIN.name else _SCMS[name]
        truth = _mc_truth(scm, *scm.default_contrast(), n_mc=N_MC, seed=seed)
        frames.append(truth.assign(dgp=name, sd_y=truth.attrs["sd_y"], n_mc=N_MC))
        print(name, f"SD(Y) = {truth.attrs['sd_y']:.4f}")
        print(truth.round(4).to_string(index=False))
    table = pd.concat(frames, ignore_index=True)
    table = table[["dgp", *[c for c in table.columns if c != "dgp"]]]
    table.to_csv(OUT, index=False, float_format="%.10g", lineterminator="\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
