"""Fair inference on the GSS status-attainment data: race -> education -> occupational status.

Graph: ``educ ~ black + age; sei10 ~ black + educ + age`` on the GSS men 2006-2010
(``/work/shared/data/gss_men_2006_2010.csv``; black = 1 for RACE 2, 0 for RACE 1; the 157
men of other races are left out). The direct path black -> sei10 is disallowed (the natural
direct effect of race with education as the mediator, on the difference scale, SEI points),
and constrained to ``--bounds`` (default (-0.5, 0.5)). The flow's constrained fit
(``medflow.fairness``) is set beside the linear SEM's box-constrained one
(``medflow.fair_linear``) with the same bounds, both fitted on all rows; then, on one random
70/30 split, the held-out RMSE of the unconstrained E[Y | black, educ, age], the constrained
E*[Y | black, age] (education averaged over in the fair world) and E*[Y | black, educ, age].
Writes ``benchmarks/results/fair_gss.{md,json}``.

    cd /work/wt-fair && PYTHONPATH=python nice -n 5 /work/main/.venv/bin/python benchmarks/fair_gss.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, environment, finish_environment, set_threads  # noqa: E402

import medflow as mf  # noqa: E402

MODEL = "educ ~ black + age; sei10 ~ black + educ + age"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default="/work/shared/data/gss_men_2006_2010.csv")
    ap.add_argument("--bounds", type=float, nargs=2, default=(-0.5, 0.5))
    args = ap.parse_args()
    env = environment(set_threads(1))
    raw = pd.read_csv(args.csv)
    data = raw[raw["race"].isin([1, 2])].assign(black=lambda d: (d["race"] == 2).astype(int))
    data = data[["black", "age", "educ", "sei10"]].reset_index(drop=True)
    fit = mf.CausalFlow(MODEL, data, continuous=["sei10"]).fit(seed=0, verbose=False)
    res = mf.fair(fit, "black", "sei10", paths=["black -> sei10"], bounds=tuple(args.bounds))
    lin = mf.fair_linear(mf.LinearSEM(MODEL, data), "black", "sei10", bounds=tuple(args.bounds))
    rng = np.random.default_rng(0)
    test = rng.random(len(data)) < 0.3
    tr, te = data[~test].reset_index(drop=True), data[test].reset_index(drop=True)
    fit_tr = mf.CausalFlow(MODEL, tr, continuous=["sei10"]).fit(seed=0, verbose=False)
    res_tr = mf.fair(fit_tr, "black", "sei10", paths=["black -> sei10"], bounds=tuple(args.bounds))
    lin_tr = mf.fair_linear(mf.LinearSEM(MODEL, tr), "black", "sei10", bounds=tuple(args.bounds))
    y = te["sei10"].to_numpy()
    rmse = lambda p: float(np.sqrt(np.mean((p - y) ** 2)))  # noqa: E731
    preds = {
        "flow, unconstrained E[Y | black, educ, age]": rmse(mf.predict(fit_tr, te, "sei10")),
        "flow, constrained E*[Y | black, age]": rmse(res_tr.predict(te)),
        "flow, constrained E*[Y | black, educ, age]": rmse(res_tr.predict(te, keep=["black", "educ", "age"])),
        "linear, unconstrained (OLS)": rmse(lin_tr.coef_before["Intercept"] + te[["black", "educ", "age"]].to_numpy()
                                            @ lin_tr.coef_before[["black", "educ", "age"]].to_numpy()),
        "linear, constrained E*[Y | black, educ, age]": rmse(lin_tr.predict(te)),
    }
    lo, hi = args.bounds
    lines = [f"# Fair inference on the GSS men 2006-2010 (N = {len(data)}): black -> educ -> sei10",
             "", f"Model `{MODEL}`; NDE of black (1 vs 0) via educ in SEI points, constrained to "
             f"[{lo:g}, {hi:g}]. Script: benchmarks/fair_gss.py.", "",
             "| model | NDE unconstrained | NDE constrained | holds | log-lik given up (nats) |",
             "|---|---|---|---|---|",
             f"| flow (medflow.fairness) | {res.pse_before:.2f} | {res.pse_after:.2f} | {res.satisfied} | "
             f"{res.loglik_lost:.2f} |",
             f"| linear SEM (medflow.fair_linear, box constraint) | {lin.pse_before:.2f} | "
             f"{lin.pse_after:.2f} | {lin.satisfied} | {lin.loglik_lost:.2f} |",
             "", f"Held-out RMSE (one 70/30 split, {int(test.sum())} test rows):", "",
             "| predictor | RMSE (SEI points) |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in preds.items()]
    env = finish_environment(env)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fair_gss.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "fair_gss.json").write_text(json.dumps(dict(
        environment=env, args=vars(args), model=MODEL, n=len(data),
        flow=dict(pse_before=res.pse_before, pse_after=res.pse_after, satisfied=res.satisfied,
                  loglik_lost=res.loglik_lost, history=res.history.to_dict(orient="list")),
        linear=dict(pse_before=lin.pse_before, pse_after=lin.pse_after, loglik_lost=lin.loglik_lost,
                    coef_before=lin.coef_before.to_dict(), coef_after=lin.coef_after.to_dict()),
        rmse=preds), indent=2, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
