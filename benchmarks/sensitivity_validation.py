"""Validation of the ρ-GNF sensitivity analysis against a hidden-confounder ground truth.

Two structural causal models on the DAG X -> U -> W -> Y, X -> W, X -> Y, U -> Y with a
hidden H that confounds U and Y: the noises of U and Y are

    eps_U = sqrt(0.3) H + sqrt(0.7) e_U,   eps_Y = sqrt(0.3) H + sqrt(0.7) e_Y,

both standard normal with correlation rho0 = 0.3 (H, e_U, e_Y independent N(0, 1)), so the
true model *is* a Gaussian-copula flow at rho = rho0 and the no-confounding fit (rho = 0)
is biased for the effects through U.

* ``linear``: U = 0.5 X + eps_U, W = 0.4 U + 0.3 X + eps_W, Y = 0.4 U + 0.2 X + 0.3 W + eps_Y;
  effects by path tracing (analytic).
* ``nonlinear``: heteroskedastic, interacting and skewed versions of the same equations
  (each strictly increasing in its noise); effects by Monte Carlo with shared noise across
  worlds (2 million units).

For each model: simulate N rows, fit the flow with the library defaults (timed), run
``medflow.sensitivity`` over a 9-value grid (-0.4 ... 0.4, which contains rho0) for the
pair U ~~ Y with mediators U and W (timed), and report the estimates at rho = rho0 and at
rho = 0 against the truth (SD(Y) units: the sample SD of the simulated outcome), the
rho-values, and the time of the 9-value grid against the time of the one fit.

``--blau-duncan`` adds the flagship demonstration: the bundled synthetic Blau–Duncan data,
the NIE via W as a function of rho for the U ~~ Y and W ~~ Y pairs.

Usage::

    python benchmarks/sensitivity_validation.py                 # both models, N = 20,000
    python benchmarks/sensitivity_validation.py --quick         # N = 5,000, fewer epochs
    python benchmarks/sensitivity_validation.py --blau-duncan

Writes ``benchmarks/results/sensitivity_validation.{json,md}``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
from _common import environment, markdown_table, timed, write_results

import medflow as mf
from medflow.sensitivity import sensitivity

MODEL = "U ~ X; W ~ U + X; Y ~ U + X + W"
RHO0 = 0.3
LABELS = ("TE", "NDE via U", "NIE via U", "NDE via W", "NIE via W")


# ----------------------------------------------------------------------------- the SCMs
def _noise(rng, n):
    h = rng.normal(size=n)
    return dict(X=rng.normal(size=n), W=rng.normal(size=n),
                U=math.sqrt(RHO0) * h + math.sqrt(1 - RHO0) * rng.normal(size=n),
                Y=math.sqrt(RHO0) * h + math.sqrt(1 - RHO0) * rng.normal(size=n))


EQUATIONS = {
    "linear": dict(
        U=lambda x, e: 0.5 * x + e,
        W=lambda u, x, e: 0.4 * u + 0.3 * x + e,
        Y=lambda u, x, w, e: 0.4 * u + 0.2 * x + 0.3 * w + e),
    "nonlinear": dict(
        U=lambda x, e: 0.5 * x + 0.2 * np.sin(2 * x) + (0.7 + 0.3 / (1 + np.exp(-x))) * e,
        W=lambda u, x, e: 0.4 * u + 0.3 * x + 0.1 * u * x + np.sinh(0.5 * e) / 0.5,
        Y=lambda u, x, w, e: 0.4 * u + 0.2 * x + 0.3 * w + 0.15 * np.tanh(u) * x
        + (0.8 + 0.2 * np.tanh(u)) * e),
}


def simulate(kind: str, n: int, seed: int) -> pd.DataFrame:
    f = EQUATIONS[kind]
    e = _noise(np.random.default_rng(seed), n)
    x = e["X"]
    u = f["U"](x, e["U"])
    w = f["W"](u, x, e["W"])
    y = f["Y"](u, x, w, e["Y"])
    return pd.DataFrame({"X": x, "U": u, "W": w, "Y": y})


def truth(kind: str, a: float, a_ref: float, n_mc: int = 2_000_000, seed: int = 99) -> dict[str, float]:
    """Population effects of X = a vs a_ref by path-specific counterfactuals with shared noise."""
    f = EQUATIONS[kind]
    e = _noise(np.random.default_rng(seed), n_mc)
    u_a, u_r = f["U"](a, e["U"]), f["U"](a_ref, e["U"])
    w = lambda u, x: f["W"](u, x, e["W"])  # noqa: E731
    y = lambda u, x, ww: f["Y"](u, x, ww, e["Y"])  # noqa: E731
    y_a = y(u_a, a, w(u_a, a)).mean()
    y_r = y(u_r, a_ref, w(u_r, a_ref)).mean()
    not_u = y(u_r, a, w(u_r, a)).mean()       # paths avoiding U active: X -> Y, X -> W -> Y
    not_w = y(u_a, a, w(u_r, a_ref)).mean()   # paths avoiding W active: X -> Y, X -> U -> Y
    return {"TE": y_a - y_r, "NDE via U": not_u - y_r, "NIE via U": y_a - not_u,
            "NDE via W": not_w - y_r, "NIE via W": y_a - not_w}


# ----------------------------------------------------------------------------- runs
def run_model(kind: str, n: int, seed: int, grid: np.ndarray, fit_args: dict, sens_args: dict,
              verbose: bool) -> tuple[list[dict], dict]:
    data = simulate(kind, n, seed)
    sd_y = float(data["Y"].std())
    times: dict = {}
    with timed(times, "fit"):
        fit = mf.CausalFlow(MODEL, data).fit(seed=0, verbose=verbose, **fit_args)
    with timed(times, "grid"):
        res = sensitivity(fit, pairs=[("U", "Y")], rho=grid, treatment="X", outcome="Y",
                          mediators=["U", "W"], a=1.0, a_ref=0.0, seed=0, verbose=verbose, **sens_args)
    true = truth(kind, 1.0, 0.0)
    t = res.table
    rho0 = float(grid[np.argmin(np.abs(grid - RHO0))])
    rv = res.rho_values().set_index("label")["rho_value"]
    rows = []
    for label in LABELS:
        at = t[t["label"] == label].set_index("rho")["estimate_sd"]
        rows.append(dict(model=kind, n=n, seed=seed, label=label, truth_sd=true[label] / sd_y,
                         at_rho0=float(at[rho0]), at_0=float(at[0.0]),
                         error_at_rho0=float(at[rho0]) - true[label] / sd_y,
                         error_at_0=float(at[0.0]) - true[label] / sd_y,
                         rho_value=float(rv[label])))
    info = dict(model=kind, n=n, fit_s=times["fit_s"], fit_cpu_s=times["fit_cpu_s"],
                fit_epochs=fit.fit_info["epochs_run"], grid_s=times["grid_s"],
                grid_cpu_s=times["grid_cpu_s"], grid_values=len(grid),
                refit_epochs=res.fit_info["epochs_run"], kept_warm_start=res.fit_info["kept_warm_start"],
                refit_s=res.fit_info["refit_seconds"], effects_s=res.fit_info["effects_seconds"],
                curve=t[["rho", "label", "estimate_sd"]].pivot(index="rho", columns="label",
                                                                values="estimate_sd").reset_index())
    return rows, info


def run_blau_duncan(grid: np.ndarray, fit_args: dict, sens_args: dict, verbose: bool) -> dict:
    data = mf.datasets.blau_duncan_synthetic()
    times: dict = {}
    with timed(times, "fit"):
        fit = mf.CausalFlow("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", data).fit(
            seed=0, verbose=verbose, **fit_args)
    with timed(times, "grid"):
        res = sensitivity(fit, pairs=[("U", "Y"), ("W", "Y")], rho=grid, treatment="X", outcome="Y",
                          mediators=["W"], estimands=["NIE via W", "TE"], seed=0, verbose=verbose,
                          **sens_args)
    curve = res.table.pivot_table(index="rho", columns=["pair", "label"], values="estimate_sd")
    curve.columns = [f"{lab} [{p}]" for p, lab in curve.columns]
    return dict(fit_s=times["fit_s"], fit_cpu_s=times["fit_cpu_s"], fit_epochs=fit.fit_info["epochs_run"],
                grid_s=times["grid_s"], grid_cpu_s=times["grid_cpu_s"], refit_epochs=res.fit_info["epochs_run"],
                kept_warm_start=res.fit_info["kept_warm_start"], refit_s=res.fit_info["refit_seconds"],
                effects_s=res.fit_info["effects_seconds"], curve=curve.reset_index(),
                rho_values=res.rho_values(), summary=res.summary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=["linear", "nonlinear"], choices=list(EQUATIONS),
                        help="simulated models to validate on (none: only --blau-duncan)")
    parser.add_argument("--quick", action="store_true", help="N = 5,000 and at most 40 fit epochs")
    parser.add_argument("--blau-duncan", action="store_true", help="also the Blau–Duncan rho-curves")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    env = environment()
    grid = np.round(np.linspace(-0.4, 0.4, 9), 10)
    n = 5_000 if args.quick else args.n
    fit_args = dict(epochs=40) if args.quick else {}
    rows, infos = [], []
    for kind in args.models:
        r, info = run_model(kind, n, args.seed, grid, fit_args, {}, args.verbose)
        rows += r
        infos.append(info)
        frame = pd.DataFrame(r)
        print(f"\n== {kind} (N = {n}, rho0 = {RHO0}) ==")
        print(frame[["label", "truth_sd", "at_rho0", "error_at_rho0", "at_0", "error_at_0",
                     "rho_value"]].round(4).to_string(index=False))
        print(f"fit {info['fit_s']:.1f} s wall / {info['fit_cpu_s']:.1f} s CPU ({info['fit_epochs']} epochs); "
              f"9-value grid {info['grid_s']:.1f} s wall / {info['grid_cpu_s']:.1f} s CPU "
              f"(refit epochs {info['refit_epochs']}, {info['kept_warm_start']} of 9 kept the warm start)")
    md = [f"Hidden confounder of U and Y with noise correlation rho0 = {RHO0}; effects of X = 1 vs 0 "
          "in SD(Y) units (sample SD). `at_rho0` / `at_0`: the sensitivity curve at rho = rho0 and "
          "at rho = 0 (no hidden confounding assumed).", ""]
    if rows:
        md += [markdown_table(pd.DataFrame(rows).drop(columns=["seed"]), digits=4), "", "Timing:", ""]
        md += [markdown_table(pd.DataFrame([{k: v for k, v in i.items() if k != "curve"} for i in infos]), 1)]
    extra: dict = dict(curves={i["model"]: i["curve"] for i in infos},
                       timing=[{k: v for k, v in i.items() if k != "curve"} for i in infos])
    if args.blau_duncan:
        bd = run_blau_duncan(grid, fit_args, {}, args.verbose)
        print("\n== Blau–Duncan (bundled synthetic data) ==")
        print(bd["summary"])
        print(f"fit {bd['fit_s']:.1f} s wall / {bd['fit_cpu_s']:.1f} s CPU ({bd['fit_epochs']} epochs); "
              f"18 refits {bd['grid_s']:.1f} s wall / {bd['grid_cpu_s']:.1f} s CPU (refit epochs "
              f"{bd['refit_epochs']}; refit {bd['refit_s']:.1f} s, effects {bd['effects_s']:.1f} s wall)")
        md += ["", "## Blau–Duncan: NIE via W against rho (SD(Y) units)", "",
               markdown_table(bd["curve"], 4), "", markdown_table(bd["rho_values"], 3), "",
               f"fit {bd['fit_s']:.1f} s wall / {bd['fit_cpu_s']:.1f} s CPU ({bd['fit_epochs']} epochs); "
               f"grid of 9 values x 2 pairs (18 refits in one ensemble) {bd['grid_s']:.1f} s wall / "
               f"{bd['grid_cpu_s']:.1f} s CPU (refit epochs {bd['refit_epochs']}, {bd['kept_warm_start']} of "
               f"18 kept the warm start; refit {bd['refit_s']:.1f} s, effects {bd['effects_s']:.1f} s wall)."]
        extra["blau_duncan"] = {k: v for k, v in bd.items() if k != "summary"}
    write_results("sensitivity_validation", env, rows, "\n".join(md), extra=extra)


if __name__ == "__main__":
    main()
