"""Robustness checks of issue 16: codings of binary variables, offsets and units in the linear SEM.

1. Flow: a binary mediator (and, separately, a binary outcome) coded 0/1, -0.5/0.5 and
   z-scored, N = 2,000, truths from the known SCM on the same units. Before issue 16 the
   non-0/1 codings were fitted as continuous variables.
2. Linear SEM: the same data with 0, 3e7, 1e8 and 1e9 added to every column, and a mediator
   in dollars versus cents beside a binary treatment.

    nice -n 10 python benchmarks/robustness_checks.py [--n 2000] [--epochs 60] [--quick]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from _common import environment, markdown_table, set_threads, write_results

import medflow as mf


def binary_scm(n: int, seed: int, binary_outcome: bool):
    """X ~ N(0,1); M = 1{0.8 X + e_M > 0}; Y = 0.5 X + M + e_Y (or 1{... > 0.5})."""
    rng = np.random.default_rng(seed)
    x, em, ey = rng.normal(size=(3, n))

    def m_of(a):
        return (0.8 * a + em > 0).astype(float)

    def y_of(a, m):
        v = 0.5 * a + m + ey
        return (v > 0.5).astype(float) if binary_outcome else v

    data = pd.DataFrame({"X": x, "M": m_of(x), "Y": y_of(x, m_of(x))})
    truth = dict(TE=float(np.mean(y_of(1.0, m_of(1.0)) - y_of(0.0, m_of(0.0)))),
                 NIE=float(np.mean(y_of(1.0, m_of(1.0)) - y_of(1.0, m_of(0.0)))))
    return data, truth


def flow_codings(n: int, epochs: int, seed: int) -> list[dict]:
    rows = []
    for outcome_kind in ("continuous", "binary"):
        data, truth = binary_scm(n, seed, outcome_kind == "binary")
        codings = {"M 0/1": data,
                   "M -0.5/0.5": data.assign(M=data["M"] - 0.5),
                   "M z-scored": data.assign(M=(data["M"] - data["M"].mean()) / data["M"].std())}
        if outcome_kind == "binary":
            codings["Y z-scored"] = data.assign(Y=(data["Y"] - data["Y"].mean()) / data["Y"].std())
        for name, frame in codings.items():
            fit = mf.CausalFlow("M ~ X; Y ~ X + M", frame).fit(seed=seed, epochs=epochs, verbose=False)
            res = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
            back = data["Y"].std() / frame["Y"].std()   # effects in the 0/1 data's units
            rows.append(dict(check="flow coding", outcome=outcome_kind, coding=name, n=n,
                             discrete=",".join(fit.encoding.discrete),
                             TE=float(res.params["TE"]) * back, NIE=float(res.params["NIE via M"]) * back,
                             TE_truth=truth["TE"], NIE_truth=truth["NIE"],
                             epochs_run=fit.fit_info.get("epochs_run")))
    return rows


def linear_offsets(seed: int) -> list[dict]:
    rows = []
    sim = mf.datasets.simulate("linear", 2000, seed)
    base_data = sim.data
    for offset in (0.0, 3e7, 1e8, 1e9):
        frame = base_data + offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mf.LinearSEM(sim.model, frame).fit()
        eff = res.effects("X", "Y", mediators=["W"], a=1.0 + offset, a_ref=offset, interventional=False)
        rows.append(dict(check="linear offset", coding=f"+{offset:g}", TE=float(eff.params["TE"]),
                         NIE=float(eff.params["NIE via W"]), min_R2=float(res.rsquared.min())))
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, 2000).astype(float)
    dollars = 30000 + 8000 * t + rng.normal(0, 20000, 2000)
    y = 1e-4 * dollars + 0.5 * t + rng.normal(size=2000)
    d = pd.DataFrame({"T": t, "M": dollars, "Y": y})
    for unit, frame in (("dollars", d), ("cents", d.assign(M=np.round(d["M"] * 100)))):
        try:
            eff = mf.LinearSEM("M ~ T; Y ~ T + M", frame).fit().effects("T", "Y", mediators=["M"],
                                                                         interventional=False)
            rows.append(dict(check="linear units", coding=f"M in {unit}", TE=float(eff.params["TE"]),
                             NIE=float(eff.params["NIE via M"])))
        except ValueError as err:
            rows.append(dict(check="linear units", coding=f"M in {unit}", error=str(err)))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="N = 500, 5 epochs")
    p.add_argument("--name", default="robustness_checks")
    args = p.parse_args()
    if args.quick:
        args.n, args.epochs = 500, 5
    set_threads(args.threads)
    env = environment(args.threads)
    rows = linear_offsets(args.seed) + flow_codings(args.n, args.epochs, args.seed)
    table = pd.DataFrame(rows)
    summary = ("Flow: effects of X = 1 vs 0 in the 0/1 data's units for each coding of the binary "
               f"variable (N = {args.n}, up to {args.epochs} epochs, seed {args.seed}); truths are "
               "the sample truths of the known SCM. Linear SEM: the same data shifted by a constant, "
               "and a mediator in dollars vs cents.\n\n" + markdown_table(table, digits=4))
    write_results(args.name, env, rows, summary, extra=dict(args=vars(args)))


if __name__ == "__main__":
    main()
