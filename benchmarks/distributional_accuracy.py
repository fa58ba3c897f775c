"""Accuracy of distributional effects and counterfactual mobility tables against shared-noise truth.

One flow fit (default settings) on the "nonlinear" validation design at N = 20,700; quantile
effects (q = .1, .25, .5, .75, .9) of TE, NDE/NIE via W and U, rNDE/rNIE, and the
counterfactual mobility table of X -> Y with U held at its value under X's 25th percentile,
all compared with the truths computed from the simulated units' own noise
(medflow.oracle._distributional_truth, _mobility_truth).

    PYTHONPATH=python python benchmarks/distributional_accuracy.py [--dgp nonlinear] [--n 20700] [--seed 0]

Writes benchmarks/results/distributional_accuracy_<dgp>.csv and .md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import medflow as mf
from medflow import datasets
from medflow.simulation import designs
from medflow.simulation import truth as oracle
from medflow.distributional import _mobility

OUT = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dgp", default="nonlinear")
    p.add_argument("--n", type=int, default=20_700)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    sim = datasets.simulate(args.dgp, args.n, seed=args.seed)
    scm = designs._SCMS[args.dgp]
    a, a_ref = (float(v) for v in sim.truth[["a", "a_ref"]].iloc[0])
    t0 = time.perf_counter()
    opts = {} if args.epochs is None else {"epochs": args.epochs}
    fit = mf.CausalFlow(sim.model, sim.data).fit(seed=args.seed, verbose=False, **opts)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = fit.distributional_effects("X", "Y", mediators=["W", "U"], a=a, a_ref=a_ref, seed=args.seed,
                                     verbose=False)
    t_eff = time.perf_counter() - t0
    eps = sim.noise.to_numpy()
    fresh = np.random.default_rng(args.seed).standard_normal((len(eps), 2))
    truth = oracle._distributional_truth(scm, eps, fresh, a, a_ref).set_index("label")
    tab = res.to_frame().dropna(subset=["quantile"]).set_index("label")
    tab = tab.join(truth[["truth_sd"]], how="inner")
    tab["error_sd"] = tab["estimate_sd"] - tab["truth_sd"]
    # mobility: U held at its value under the 25th percentile of X
    x25 = float(np.quantile(sim.data["X"], 0.25))
    t0 = time.perf_counter()
    mob = fit.mobility_table("X", "Y", bins=5, mediators="U", a_ref=x25)
    t_mob = time.perf_counter() - t0
    cf_true = oracle._mobility_truth(scm, eps, x25, "U")
    true_tab = _mobility(sim.data["X"].to_numpy(float), sim.data["Y"].to_numpy(float), cf_true[None],
                         np.ones((1, len(eps))), 5, "X", "Y", ("U",), x25, "truth", [], "")
    cell_err = (mob.counterfactual.to_numpy() - true_tab.counterfactual.to_numpy())
    rows = tab[["estimand", "quantile", "estimate_sd", "truth_sd", "error_sd"]].reset_index()
    OUT.mkdir(exist_ok=True)
    stem = OUT / f"distributional_accuracy_{args.dgp}"
    rows.to_csv(stem.with_suffix(".csv"), index=False)
    lines = [f"# Distributional accuracy: {args.dgp}, N = {args.n}, seed {args.seed}",
             "", f"fit {t_fit:.1f} s (default settings{'' if args.epochs is None else f', epochs={args.epochs}'}), "
             f"distributional effects {t_eff:.1f} s, mobility table {t_mob:.1f} s; "
             f"ensemble members: {fit._require_fitted().E}", "",
             f"max |error| of quantile effects (SD(Y)): {rows['error_sd'].abs().max():.4f}",
             f"max |error| of counterfactual mobility cells: {np.abs(cell_err).max():.4f}", "",
             rows.to_string(index=False, float_format="{:.4f}".format), "",
             "Counterfactual mobility table, estimate:", "", mob.counterfactual.round(3).to_string(), "",
             "truth:", "", true_tab.counterfactual.round(3).to_string(), "",
             "indices (estimate):", "", mob.indices.round(4).to_string(), "",
             "indices (truth):", "", true_tab.indices.round(4).to_string()]
    stem.with_suffix(".md").write_text("\n".join(lines).replace("\n\n", "\n\n```\n", 0) + "\n")
    print("\n".join(lines[:7]))


if __name__ == "__main__":
    main()
