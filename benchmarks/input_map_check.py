"""Why the conditioners read normal scores: the U equation of ``blau_duncan`` with either input.

On the validation study's first data sets of the ``blau_duncan`` design at N = 20,700 (the
same data and fit seeds as ``python -m medflow.validation``), fits the flow twice, with
``inputs="standardized"`` (the conditioners read each parent's standardized value, as before
2026-11-30) and with the default ``inputs="normal_scores"``, and reports

1. the mean of U over the rows with X = x, under the flow's U equation (their own V, fresh
   noise, members averaged) minus the true structural equation's, for X's common values;
2. the errors of TE, NIE via U and NDE via W against the population truth (SD(Y)).

    python benchmarks/input_map_check.py --reps 2

Results: ``benchmarks/results/input_map_check.{md,json}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, write_results  # noqa: E402

X_VALUES = (2, 4, 8, 11, 15, 19, 25, 33, 45, 68)
LABELS = ("TE", "NIE via U", "NDE via W")


@torch.no_grad()
def u_curve(fit, sim, scm, draws: int = 20, seed: int = 1) -> dict[int, float]:
    """Flow minus truth of the mean of U over the rows with X = x (U units)."""
    var = list(fit.variables)
    data = sim.data[var].to_numpy(dtype=float)
    j, ix, iv = var.index("U"), var.index("X"), var.index("V")
    enc, flow = fit.encoding, fit.flow
    x0 = fit._to_tensor(data)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    out = {}
    for value in X_VALUES:
        sel = data[:, ix] == value
        if sel.sum() < 20:
            continue
        xs = x0[torch.as_tensor(sel)]
        flow_mean = np.mean([float(fit._discretize(j, flow.inverse_node(
            j, torch.randn(flow.E, xs.shape[0], generator=gen, dtype=xs.dtype),
            xs.expand(flow.E, -1, -1))).double().mean()) * enc.scale[j] + enc.loc[j]
            for _ in range(draws)])
        truth = np.mean([scm.u(data[sel, iv], data[sel, ix], rng.standard_normal(sel.sum())).mean()
                         for _ in range(200)])
        out[value] = float(flow_mean - truth)
    return out


def main() -> None:
    import medflow as mf
    from medflow.simulation.designs import _SCMS
    from medflow.validation import _seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--n", type=int, default=20700)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    scm = _SCMS["blau_duncan"]
    env = environment(args.threads)
    curves, errors = [], []
    for rep in range(args.reps):
        seed = _seed(0, "blau_duncan", args.n, rep)
        sim = mf.datasets.simulate("blau_duncan", args.n, seed=seed)
        truth = sim.truth.set_index("label")
        sd_y = float(sim.truth.attrs["sd_y"])
        for inputs in ("standardized", "normal_scores"):
            t0 = time.process_time()
            fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete), inputs=inputs).fit(
                seed=seed % (2**31), verbose=False)
            cpu = time.process_time() - t0
            curve = u_curve(fit, sim, scm)
            curves += [dict(rep=rep, inputs=inputs, X=x, flow_minus_truth=v) for x, v in curve.items()]
            eff = fit.effects("X", "Y", mediators=["W", "U"], interventional=False,
                              a=float(truth["a"].iloc[0]), a_ref=float(truth["a_ref"].iloc[0]),
                              verbose=False).table.set_index("label")
            errors.append(dict(rep=rep, inputs=inputs, fit_cpu_s=round(cpu, 1),
                               **{lab: (eff.loc[lab, "estimate"] - truth.loc[lab, "truth"]) / sd_y
                                  for lab in LABELS}))
            print(errors[-1], flush=True)
    curves_df = pd.DataFrame(curves).pivot_table(index="X", columns="inputs", values="flow_minus_truth")
    errors_df = pd.DataFrame(errors)
    mean_err = errors_df.groupby("inputs")[list(LABELS)].mean().reset_index()
    text = (f"`blau_duncan`, N = {args.n:,}, validation data sets 0–{args.reps - 1}.\n\n"
            "## Mean of U over the rows with X = x: flow minus truth (U units, mean over data sets)\n\n"
            + markdown_table(curves_df.reset_index().round(4))
            + "\n\n## Effect errors against the population truth (SD(Y))\n\n"
            + markdown_table(errors_df.round(4)) + "\n\nMean over data sets:\n\n"
            + markdown_table(mean_err.round(4)) + "\n")
    write_results("input_map_check", env, errors, text, extra=dict(curves=curves))


if __name__ == "__main__":
    main()
