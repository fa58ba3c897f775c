"""Where the bootstrap's spread comes from: replicate variance, member noise, shrink factor.

For replications of the validation study (the same data sets and seeds as
``python -m medflow.validation``), fits the flow, runs ``fit.effects(..., n_boot=B)`` and
records, per estimand, what :func:`medflow.estimands.shrink_replicates` saw: the variance of
the replicates (each the average of ``per`` members), the member variance within the fit
(``K`` members) and within replicates, and the factor ``c``. Over replications it compares
the bootstrap's variance, raw and shrunk, with the sampling variance of the point estimate
(its variance over data sets) and checks the model behind the shrinking, that a member's
variance over data sets is the point estimate's plus ``s2 (1 - 1/K)``.

    python benchmarks/bootstrap_spread.py --dgp nonlinear --n 2000 --reps 0 1 2 3 4 5 6 7 --boot 50

Writes ``benchmarks/results/bootstrap_spread_<dgp>_<n>.{json,md}``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import medflow as mf
from _common import environment, markdown_table, set_threads, write_results
from medflow import estimands
from medflow import validation as val

LABELS = ["TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U"]


def one(dgp: str, n: int, rep: int, boot: int, seed: int) -> list[dict]:
    data_seed = val._seed(seed, dgp, n, rep)
    sim = mf.datasets.simulate(dgp, n, seed=data_seed)
    truth = sim.truth.set_index("label")
    sd_y = float(truth.loc["TE", "truth"] / truth.loc["TE", "truth_sd"])
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
    fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete),
                        continuous=[v for v in sim.data.columns if v not in sim.discrete]) \
        .fit(seed=data_seed % (2**31), verbose=False)
    seen = []
    original = estimands.shrink_replicates

    def spy(values, fit_members, per=1):
        out = original(values, fit_members, per)
        seen.append((np.asarray(values, float), np.asarray(fit_members, float), per, out[1]))
        return out

    estimands.shrink_replicates = spy
    try:
        res = fit.effects(sim.treatment, sim.outcome, mediators=["W", "U"], a=a, a_ref=a_ref,
                          n_boot=boot, interventional=False, seed=data_seed % (2**31), verbose=False)
    finally:
        estimands.shrink_replicates = original
    t = res.table.set_index("label")
    rows = []
    for label, (values, members, per, c) in zip(list(t.index), seen):
        if label not in LABELS:
            continue
        reps = values.reshape(-1, per).mean(1)
        within = values.reshape(-1, per).var(axis=1, ddof=1).mean() if per > 1 else np.nan
        rows.append(dict(rep=rep, label=label, estimate=float(t.loc[label, "estimate"]) / sd_y,
                         truth=float(truth.loc[label, "truth"]) / sd_y,
                         var_reps=reps.var(ddof=1) / sd_y**2, var_fit_members=members.var(ddof=1) / sd_y**2,
                         var_within_reps=within / sd_y**2, K=members.size, per=per, c=c,
                         se_shrunk=float(t.loc[label, "std_error"]) / sd_y,
                         member0=float(members[0]) / sd_y, member_mean_centre_offset=
                         float(reps.mean() - members.mean()) / sd_y))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dgp", default="nonlinear")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--reps", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--boot", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    set_threads(args.threads)
    env = environment(args.threads)
    rows = []
    for r in args.reps:
        rows += one(args.dgp, args.n, r, args.boot, args.seed)
        print(f"replication {r} done", flush=True)
    df = pd.DataFrame(rows)
    df["var_shrunk"] = df["se_shrunk"] ** 2
    g = df.groupby("label", sort=False)
    summ = pd.DataFrame({
        "sampling SD of the estimate": g["estimate"].std(),
        "bootstrap SD, raw": np.sqrt(g["var_reps"].mean()),
        "bootstrap SD, shrunk": np.sqrt(g["var_shrunk"].mean()),
        "member SD within fit": np.sqrt(g["var_fit_members"].mean()),
        "member SD within replicates": np.sqrt(g["var_within_reps"].mean()),
        "mean c": g["c"].mean(),
        "SD over data sets of member 0": g["member0"].std(),
        "replicate centre - fit": g["member_mean_centre_offset"].mean(),
        "bias": g["estimate"].mean() - g["truth"].mean(),
    }).reset_index()
    md = (f"Design `{args.dgp}`, N = {args.n}, replications {args.reps}, B = {args.boot}; SD(Y) units. "
          "`sampling SD` is the SD of the point estimates over the data sets; the bootstrap SDs are "
          "root-mean-square over data sets. Under the shrinking's model, (SD over data sets of "
          "member 0)^2 = (sampling SD)^2 + (member SD within fit)^2 (1 - 1/K).\n\n"
          + markdown_table(summ.round(4)) + "\n\nPer data set:\n\n" + markdown_table(df.round(4)) + "\n")
    write_results(f"bootstrap_spread_{args.dgp}_{args.n}", env, rows, md, extra=dict(args=vars(args)))


if __name__ == "__main__":
    main()
