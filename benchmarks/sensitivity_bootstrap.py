"""Bootstrap standard errors of ``sensitivity()`` at rho = 0 against those of ``fit.effects()``.

At rho = 0 the sensitivity curve is the fitted model, so its bootstrap replicates should vary
as much as the effects bootstrap's replicates (issue 14, item 5): both are the estimator's
sampling distribution. Before issue 14 the sensitivity replicates were warm-started from the
full-data fit and kept that start when fine-tuning did not improve it, so they shrank toward
the point estimate and the intervals were too narrow.

One data set from ``medflow.datasets.simulate("nonlinear", N, seed)``, one fit with the
library defaults, then

* ``fit.effects(..., n_boot=B, seed=s)``: the effects bootstrap (its SE is the reference);
* ``sensitivity(..., rho=[0, rho1], n_boot=B, seed=s)``: the same seed (the replicates'
  resamples are the same as the effects bootstrap's);
* ``sensitivity(..., seed=s + 1)``: independent resamples and training randomness, so the
  ratio of its SE to the reference is a Monte Carlo comparison of two estimates of the same
  spread (relative SE of each about ``1 / sqrt(2 (B - 1))``).

Run it with the code to compare on ``PYTHONPATH`` (e.g. a checkout of the commit before the
change for ``--name sensitivity_bootstrap_before``)::

    nice -n 5 python benchmarks/sensitivity_bootstrap.py --threads 1 --name sensitivity_bootstrap_after

Writes ``benchmarks/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
from _common import environment, markdown_table, timed, write_results

import medflow as mf
from medflow.sensitivity import sensitivity

LABELS = ("TE", "NDE via W", "NIE via W")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="rows (default 2,000)")
    p.add_argument("--n-boot", type=int, default=100, help="bootstrap replicates B (default 100)")
    p.add_argument("--data-seed", type=int, default=1)
    p.add_argument("--fit-seed", type=int, default=0)
    p.add_argument("--boot-seed", type=int, default=1)
    p.add_argument("--rho", type=float, default=0.2, help="a second grid value (default 0.2)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="sensitivity_bootstrap")
    p.add_argument("--quick", action="store_true", help="N = 600, B = 10 (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.n_boot = 600, 10
    env = environment(args.threads)
    times: dict = {}
    sim = mf.datasets.simulate("nonlinear", args.n, seed=args.data_seed)
    with timed(times, "fit"):
        fit = mf.CausalFlow(sim.model, sim.data).fit(seed=args.fit_seed, verbose=False)
    query = dict(treatment="X", outcome="Y", mediators=["W"])
    with timed(times, "effects_boot"):
        eff = fit.effects(**query, interventional=False, n_boot=args.n_boot, seed=args.boot_seed,
                          verbose=False)
    ref = eff.table.set_index("label")
    sens = {}
    for tag, seed in (("same_seed", args.boot_seed), ("other_seed", args.boot_seed + 1)):
        with timed(times, f"sensitivity_{tag}"):
            sens[tag] = sensitivity(fit, pairs=[("W", "Y")], rho=[0.0, args.rho], **query,
                                    estimands=list(LABELS), n_boot=args.n_boot, seed=seed,
                                    verbose=False)
    sd_y = float(sim.data["Y"].std())
    rel = 1 / math.sqrt(2 * (args.n_boot - 1))   # relative SE of one bootstrap SD
    rows = []
    for label in LABELS:
        row = dict(label=label, estimate_sd=ref.loc[label, "estimate"] / sd_y,
                   se_effects_sd=ref.loc[label, "std_error"] / sd_y)
        for tag, res in sens.items():
            t = res.table.set_index(["rho", "label"])
            row[f"se_rho0_{tag}_sd"] = t.loc[(0.0, label), "std_error"] / sd_y
            row[f"ratio_{tag}"] = t.loc[(0.0, label), "std_error"] / ref.loc[label, "std_error"]
            row[f"se_rho{args.rho:g}_{tag}_sd"] = t.loc[(args.rho, label), "std_error"] / sd_y
            row[f"point_rho0_minus_effects_{tag}"] = (t.loc[(0.0, label), "estimate"]
                                                     - ref.loc[label, "estimate"]) / sd_y
            reps = res.fit_info.get("replicates")
            if reps is not None:   # replicates equal to the point estimate (warm starts kept)
                r = pd.DataFrame(reps)
                r = r[(r["rho"] == 0.0) & (r["label"] == label)]["estimate"].to_numpy()
                row[f"reps_at_point_{tag}"] = int(np.sum(np.isclose(r, t.loc[(0.0, label), "estimate"],
                                                                    rtol=0, atol=1e-9)))
        rows.append(row)
    frame = pd.DataFrame(rows)
    summary = "\n".join([
        f"`simulate(\"nonlinear\", {args.n}, seed={args.data_seed})`, fit seed {args.fit_seed}, "
        f"B = {args.n_boot} replicates, pair W ~~ Y, rho in {{0, {args.rho:g}}}; SEs in SD(Y) units. "
        f"`ratio_*` = sensitivity SE at rho = 0 / effects SE (should be 1; Monte Carlo relative SE "
        f"of each SE about {rel:.2f}, of a ratio of independent ones about {rel * math.sqrt(2):.2f}). "
        "`same_seed`: the effects bootstrap's seed; `other_seed`: independent resamples.",
        "",
        markdown_table(frame, 3),
        "",
        "Seconds (wall): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in times.items() if not k.endswith("cpu_s")),
    ])
    return write_results(args.name, env, rows, summary,
                         extra=dict(times=times, n=args.n, n_boot=args.n_boot,
                                    fit_info={k: v for k, v in sens["other_seed"].fit_info.items()
                                              if k != "replicates"}))


if __name__ == "__main__":
    main()
