"""Simulation study: bias, RMSE and interval coverage of the flow and the linear SEM.

For every validation model of :data:`medflow.datasets.DGPS` and sample size N,
R data sets are drawn (:func:`medflow.datasets.simulate`), the flow and the
linear SEM are fitted to each, and their estimates of the total effect, the
natural direct and indirect effects via W and via U and the interventional
analogues are compared with the model's true effects (population truths, at
the model's default contrast). Intervals: the flow's from ``n_boot`` bootstrap
refits (percentile), the linear SEM's from the delta method, each at every level
of ``levels`` (default 90 % and 95 %, from the same refits); coverage is the
share of intervals that contain the truth, reported with its Monte Carlo SE
and the intervals' width relative to the estimates' spread over replications.
Errors are reported in units of the population SD of Y.

Replications run through :class:`joblib.Parallel`, so any joblib backend can
spread them over a cluster::

    from joblib import parallel_config
    from medflow.validation import run_study
    with parallel_config(backend="dask"):          # or "ray" after ray.util.joblib.register_ray()
        results = run_study(["linear", "blau_duncan"], [2000, 5000], reps=200, n_boot=100, n_jobs=-1)

Command line: ``python -m medflow.validation --dgps linear blau_duncan --n 2000 5000 20700
--reps 100 --boot 100 --out medflow-validation --n-jobs 2`` (``--quick`` for a smoke test).
It writes ``results.csv`` (one row per replication, method, effect and interval level),
``summary.csv``, ``summary.md`` and ``validation.png``.

Example:
    >>> import numpy as np
    >>> from medflow.validation import bias, coverage, rmse
    >>> est = np.array([1.0, 3.0])
    >>> float(bias(est, 1.5)), float(rmse(est, 1.5)), float(coverage([0.0, 2.0], [2.0, 4.0], 1.5))
    (0.5, 1.118033988749895, 0.5)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

__all__ = [
    "LABELS", "LEVELS", "RESULT_COLUMNS", "bias", "coverage", "rmse", "run_replication", "run_study",
    "summarize", "to_markdown", "plot_summary", "main",
]

#: The effects the study reports, in this order.
LABELS: tuple[str, ...] = (
    "TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U",
    "rNDE via W", "rNIE via W", "rNDE via U", "rNIE via U",
)

#: Columns of the per-replication results table.
RESULT_COLUMNS: tuple[str, ...] = (
    "dgp", "n", "rep", "seed", "method", "label", "level", "estimate", "ci_lower", "ci_upper",
    "truth", "sd_y", "identified", "seconds",
)

#: Interval levels the study reports by default (both from the same bootstrap refits).
LEVELS: tuple[float, ...] = (0.90, 0.95)

_METHODS = {"flow": "flow", "linear SEM": "linear"}


# ====================================================================== metrics
def bias(estimates, truth: float) -> float:
    """Mean estimate minus the truth."""
    return float(np.mean(np.asarray(estimates, dtype=float)) - truth)


def rmse(estimates, truth: float) -> float:
    """Root mean squared error of the estimates around the truth."""
    err = np.asarray(estimates, dtype=float) - truth
    return float(math.sqrt(np.mean(err**2)))


def coverage(lower, upper, truth: float) -> float:
    """Share of intervals ``[lower, upper]`` that contain the truth (NaN without intervals).

    Replications without an interval (NaN bounds) are left out.
    """
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return math.nan
    return float(np.mean((lo[ok] <= truth) & (truth <= hi[ok])))


# ====================================================================== one replication
def _seed(base: int, dgp: str, n: int, rep: int) -> int:
    """A data seed that depends on (base, dgp, n, rep) only, not on the order tasks run in."""
    key = [int(base), *(ord(c) for c in dgp), int(n), int(rep)]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def run_replication(dgp: str, n: int, rep: int, *, seed: int = 0, n_boot: int = 0, epochs: int | None = None,
                    levels: Sequence[float] = LEVELS, threads: int | None = 1) -> pd.DataFrame:
    """Simulate one data set, fit the flow and the linear SEM, and compare with the truth.

    Args:
        dgp: a key of :data:`medflow.datasets.DGPS`.
        n: sample size.
        rep: replication number (enters the data seed).
        seed: base seed of the study.
        n_boot: bootstrap refits of the flow for its intervals (0: no flow intervals).
        epochs: training epochs of the flow (default: the library's choice for the data).
        levels: interval levels; the flow's intervals at every level come from the same
            bootstrap refits.
        threads: torch CPU threads while this replication runs (restored afterwards);
            ``None`` leaves torch's setting alone.

    Returns:
        One row per method, effect and level, columns :data:`RESULT_COLUMNS` (outcome units).
    """
    import torch

    kw = dict(seed=seed, n_boot=n_boot, epochs=epochs, levels=_check_levels(levels))
    if threads is None:
        return _replication(dgp, n, rep, **kw)
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _replication(dgp, n, rep, **kw)
    finally:
        torch.set_num_threads(before)


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Distinct interval levels in (0, 1), ascending; a ``ValueError`` otherwise."""
    try:
        out = tuple(sorted({float(v) for v in levels}))
    except (TypeError, ValueError):
        raise ValueError(f"levels must be numbers between 0 and 1, got {levels!r}.") from None
    if not out or not all(0 < v < 1 for v in out):
        raise ValueError(f"levels must be numbers between 0 and 1, got {list(levels)!r}.")
    return out


def _replication(dgp: str, n: int, rep: int, *, seed: int, n_boot: int, epochs: int | None,
                 levels: tuple[float, ...]) -> pd.DataFrame:
    import medflow as mf

    start = time.perf_counter()
    data_seed = _seed(seed, dgp, n, rep)
    sim = mf.datasets.simulate(dgp, n, seed=data_seed)
    truth = sim.truth.set_index("label")
    sd_y = float(sim.truth.attrs.get("sd_y", float("nan")))
    if not np.isfinite(sd_y):
        sd_y = float(truth.loc["TE", "truth"] / truth.loc["TE", "truth_sd"])
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
    mediators = ["W", "U"]
    sem = mf.LinearSEM(sim.model, sim.data).fit()
    lin = {lv: sem.effects(sim.treatment, sim.outcome, mediators=mediators, a=a, a_ref=a_ref,
                           se="delta", level=lv) for lv in levels}
    fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete),
                        continuous=[v for v in sim.data.columns if v not in sim.discrete]) \
        .fit(seed=data_seed % (2**31), verbose=False, epochs=epochs)
    flow = fit.effects(sim.treatment, sim.outcome, mediators=mediators, a=a, a_ref=a_ref,
                       n_boot=n_boot, level=levels[-1], seed=data_seed % (2**31), verbose=False)
    seconds = time.perf_counter() - start
    rows = []
    for lv in levels:
        # the flow's intervals at every level are percentiles of the same refits
        flow_ci = flow.conf_int(level=lv) if n_boot else None
        for res, ci in ((flow, flow_ci), (lin[lv], lin[lv].conf_int())):
            t = res.table.set_index("label")
            for label in LABELS:
                r = t.loc[label]
                lo, hi = (math.nan, math.nan) if ci is None else ci.loc[label, ["lower", "upper"]]
                rows.append((dgp, int(n), int(rep), data_seed, _METHODS.get(r["method"], r["method"]), label,
                             lv, float(r["estimate"]), float(lo), float(hi),
                             float(truth.loc[label, "truth"]), sd_y, bool(r["identified"]), seconds))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def run_study(dgps: Sequence[str], ns: Sequence[int], reps: int, *, n_boot: int = 0,
              epochs: int | None = None, levels: Sequence[float] = LEVELS, seed: int = 0, n_jobs: int | None = None,
              threads: int | None = 1, verbose: int = 0) -> pd.DataFrame:
    """All replications (``dgps`` × ``ns`` × ``reps``) through :class:`joblib.Parallel`.

    Args:
        dgps: validation models (keys of :data:`medflow.datasets.DGPS`).
        ns: sample sizes.
        reps: replications per model and sample size.
        n_boot, epochs, levels, threads: as in :func:`run_replication`
            (``threads`` per worker).
        seed: base seed; a replication's data depend on (seed, dgp, n, rep) only.
        n_jobs: joblib workers (default: the active joblib configuration, i.e. 1 unless a
            ``parallel_config`` says otherwise).
        verbose: joblib's progress messages.

    Returns:
        The concatenated results (:data:`RESULT_COLUMNS`).
    """
    from medflow.datasets import DGPS

    unknown = [d for d in dgps if d not in DGPS]
    if unknown:
        raise ValueError(f"Unknown dgp {unknown[0]!r}; choose from: {', '.join(DGPS)}.")
    if int(reps) < 1:
        raise ValueError(f"reps must be at least 1, got {reps}.")
    if n_boot == 1 or n_boot < 0:
        raise ValueError(f"n_boot must be 0 or at least 2, got {n_boot}.")
    levels = _check_levels(levels)
    tasks = [(d, int(n), r) for d in dgps for n in ns for r in range(int(reps))]
    parts = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(run_replication)(d, n, r, seed=seed, n_boot=n_boot, epochs=epochs, levels=levels,
                                 threads=threads)
        for d, n, r in tasks)
    return pd.concat(parts, ignore_index=True)


# ====================================================================== aggregation
def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE, coverage per model, N, method, effect and interval level (errors in SD(Y) units).

    Columns: ``dgp, n, method, label, level, reps, truth_sd, mean_sd, bias_sd, rmse_sd, sd_sd``
    (empirical SD of the estimates), ``mcse_bias_sd`` (Monte Carlo SE of the bias),
    ``coverage`` (share of intervals containing the truth), ``coverage_mcse``
    (its Monte Carlo SE, ``sqrt(c (1 - c) / reps)``), ``coverage_basic`` (of the interval reflected
    about the estimate, ``[2 est - upper, 2 est - lower]``; the same as ``coverage`` for symmetric
    intervals), ``ci_width_sd``, ``width_ratio`` (mean width over ``2 z sd``, the width a normal
    interval with the estimates' spread over replications would have: 1 is right, below 1 too
    narrow), ``identified``, ``seconds`` (mean per replication).
    """
    from scipy.stats import norm

    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(f"results lack the columns {', '.join(missing)}.")
    rows = []
    keys = ["dgp", "n", "method", "label", "level"]
    for (dgp, n, method, label, level), g in results.groupby(keys, sort=False):
        sd_y = float(g["sd_y"].iloc[0])
        truth = float(g["truth"].iloc[0])
        est = g["estimate"].to_numpy(dtype=float)
        spread = float(np.std(est, ddof=1)) if len(est) > 1 else math.nan
        width = (g["ci_upper"] - g["ci_lower"]).to_numpy(dtype=float)
        cover = coverage(g["ci_lower"], g["ci_upper"], truth)
        n_ci = int(np.isfinite(width).sum())
        mean_width = float(np.nanmean(width)) if n_ci else math.nan
        rows.append(dict(
            dgp=dgp, n=int(n), method=method, label=label, level=float(level), reps=len(g),
            truth_sd=truth / sd_y, mean_sd=float(est.mean()) / sd_y,
            bias_sd=bias(est, truth) / sd_y, rmse_sd=rmse(est, truth) / sd_y,
            sd_sd=spread / sd_y, mcse_bias_sd=spread / sd_y / math.sqrt(len(est)),
            coverage=cover,
            coverage_mcse=math.sqrt(cover * (1 - cover) / n_ci) if n_ci else math.nan,
            coverage_basic=coverage(2 * est - g["ci_upper"].to_numpy(dtype=float),
                                    2 * est - g["ci_lower"].to_numpy(dtype=float), truth),
            ci_width_sd=mean_width / sd_y,
            width_ratio=(mean_width / (2 * norm.ppf(0.5 + float(level) / 2) * spread)
                         if n_ci and spread > 0 else math.nan),
            identified=bool(g["identified"].iloc[0]),
            seconds=float(g.drop_duplicates(["rep"])["seconds"].mean()),
        ))
    out = pd.DataFrame(rows)
    # models in the order they first appear, N ascending, effects in the order of LABELS
    dgp_rank = {d: k for k, d in enumerate(dict.fromkeys(results["dgp"]))}
    label_rank = {lbl: k for k, lbl in enumerate(LABELS)}
    keys = pd.DataFrame({"d": out["dgp"].map(dgp_rank), "n": out["n"],
                         "l": out["label"].map(label_rank).fillna(len(label_rank)),
                         "m": out["method"], "v": out["level"]})
    order = keys.sort_values(["d", "n", "l", "m", "v"], kind="stable").index
    return out.loc[order].reset_index(drop=True)


def _cell(x: float, fmt: str = "{:+.3f}") -> str:
    return "–" if x is None or not np.isfinite(x) else fmt.format(x)


def _cover_cell(c: float, se: float) -> str:
    return "–" if not np.isfinite(c) else f"{c:.2f} ({se:.2f})"


def to_markdown(summary: pd.DataFrame) -> str:
    """One markdown table per model and N: effects as rows, flow and linear SEM side by side.

    Coverage is shown at every level of the summary with its Monte Carlo SE in brackets;
    ``width`` is the flow's interval width over ``2 z sd`` (see :func:`summarize`) at the highest level.
    """
    levels = sorted(summary["level"].unique())
    top = levels[-1]
    lv_text = " and ".join(f"{v:.0%}" for v in levels)
    lines = ["# medflow validation study", "",
             "Bias and RMSE in units of the population SD of Y; coverage of "
             f"{lv_text} intervals with its Monte Carlo SE in brackets (flow: bootstrap percentile; "
             "linear SEM: delta method); flow width = mean interval width / (2 z × SD of the estimates "
             f"over replications) at {top:.0%} (1 = as wide as the sampling spread asks); "
             "* = not identified without cross-world assumptions.", ""]
    for (dgp, n), g in summary.groupby(["dgp", "n"], sort=False):
        reps = int(g["reps"].max())
        secs = float(g.loc[g["reps"] == reps, "seconds"].mean())
        head = ["effect", "truth", "flow bias", "flow RMSE"]
        head += [f"flow cover {v:.0%}" for v in levels] + ["flow width"]
        head += ["linear bias", "linear RMSE"] + [f"linear cover {v:.0%}" for v in levels]
        lines += [f"## {dgp}, N = {n:,} ({reps} replications, {secs:.1f} s per replication)", "",
                  "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for label in [lbl for lbl in LABELS if lbl in set(g["label"])]:
            rows = g[g["label"] == label].set_index(["method", "level"])

            def get(col: str, method: str, level: float = top) -> float:
                return float(rows.loc[(method, level), col]) if (method, level) in rows.index else math.nan

            star = "" if rows["identified"].all() else "*"
            cells = [f"{label}{star}", _cell(float(rows["truth_sd"].iloc[0]), "{:.3f}")]
            for method in ("flow", "linear"):
                cells += [_cell(get("bias_sd", method)), _cell(get("rmse_sd", method), "{:.3f}")]
                cells += [_cover_cell(get("coverage", method, v), get("coverage_mcse", method, v))
                          for v in levels]
                if method == "flow":
                    cells.append(_cell(get("width_ratio", method), "{:.2f}"))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_summary(summary: pd.DataFrame, path: str | Path | None = None):
    """Bias, RMSE and coverage per effect: one row of panels per model, a colour per method.

    Returns the matplotlib Figure (saved to ``path`` when given).
    """
    from matplotlib.figure import Figure

    top = float(summary["level"].max()) if len(summary) else 0.95
    summary = summary[summary["level"] == top]
    dgps = list(dict.fromkeys(summary["dgp"]))
    labels = [lbl for lbl in LABELS if lbl in set(summary["label"])]
    ns = sorted(summary["n"].unique())
    markers = ["o", "s", "^", "D", "v"]
    fig = Figure(figsize=(12, 0.32 * len(labels) * len(dgps) + 1.2 * len(dgps) + 0.5))
    axes = fig.subplots(len(dgps), 3, squeeze=False)
    colors = {"flow": "C0", "linear": "C1"}
    for i, dgp in enumerate(dgps):
        sub = summary[summary["dgp"] == dgp]
        for j, (col, title) in enumerate((("bias_sd", "bias (SD of Y)"), ("rmse_sd", "RMSE (SD of Y)"),
                                          ("coverage", f"coverage ({top:.0%})"))):
            ax = axes[i, j]
            for k, method in enumerate(("flow", "linear")):
                for m, n in enumerate(ns):
                    g = sub[(sub["method"] == method) & (sub["n"] == n)].set_index("label").reindex(labels)
                    y = np.arange(len(labels)) + (k - 0.5) * 0.3 + (m - (len(ns) - 1) / 2) * 0.08
                    ax.scatter(g[col], y, color=colors[method], marker=markers[m % len(markers)], s=18,
                               label=f"{method}, N={n:,}" if i == 0 and j == 0 else None)
            ax.axvline({"coverage": top}.get(col, 0.0), color="grey", lw=0.8, ls="--")
            if col == "coverage":
                ax.set_xlim(-0.02, 1.02)
            ax.set_yticks(range(len(labels)), labels if j == 0 else [""] * len(labels))
            ax.invert_yaxis()
            if i == 0:
                ax.set_title(title)
            if j == 0:
                ax.set_ylabel(dgp)
    if len(summary):
        axes[0, 0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


# ====================================================================== command line
def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``python -m medflow.validation``."""
    from medflow.datasets import DGPS

    p = argparse.ArgumentParser(
        prog="python -m medflow.validation",
        description="Simulation study of the flow and the linear SEM: bias, RMSE and coverage.")
    p.add_argument("--dgps", nargs="+", choices=list(DGPS), metavar="DGP",
                   help=f"validation models (default: all of {', '.join(DGPS)}; --quick: linear nonlinear)")
    p.add_argument("--n", nargs="+", type=int, metavar="N", help="sample sizes (default 2000 5000 20700)")
    p.add_argument("--reps", type=int, help="replications per model and N (default 100)")
    p.add_argument("--boot", type=int, help="bootstrap refits per flow fit for its intervals (default 100)")
    p.add_argument("--epochs", type=int,
                   help="training epochs (default: the library's choice for each data set)")
    p.add_argument("--levels", type=float, nargs="+", default=list(LEVELS), metavar="LEVEL",
                   help="interval levels, all from the same refits (default 0.90 0.95)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--n-jobs", type=int, default=1, help="joblib workers (default 1; -1 = all cores)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker (default 1)")
    p.add_argument("--out", default="medflow-validation", metavar="DIR", help="output folder")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 2 models, N = 500, 2 replications, no bootstrap, 10 epochs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study from the command line; returns the exit code (2 on an error)."""
    args = build_parser().parse_args(argv)
    quick = dict(dgps=["linear", "nonlinear"], n=[500], reps=2, boot=0, epochs=10)
    full = dict(dgps=None, n=[2000, 5000, 20700], reps=100, boot=100, epochs=None)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        from medflow.datasets import DGPS

        dgps = args.dgps or list(DGPS)
        if any(n < 50 for n in args.n):
            raise ValueError("Every N must be at least 50.")
        if args.epochs is not None and args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {args.epochs}.")
        total = len(dgps) * len(args.n) * args.reps
        print(f"medflow validation: {len(dgps)} model(s) x N in {args.n} x {args.reps} replication(s) = "
              f"{total} fits; bootstrap {args.boot}; epochs {args.epochs or 'auto'}; {args.n_jobs} job(s)",
              flush=True)
        start = time.perf_counter()
        results = run_study(dgps, args.n, args.reps, n_boot=args.boot, epochs=args.epochs,
                            levels=args.levels, seed=args.seed, n_jobs=args.n_jobs, threads=args.threads,
                            verbose=10)
        summary = summarize(results)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results.to_csv(out / "results.csv", index=False)
        summary.to_csv(out / "summary.csv", index=False)
        text = to_markdown(summary)
        (out / "summary.md").write_text(text + "\n", encoding="utf-8")
        plot_summary(summary, out / "validation.png")
        elapsed = time.perf_counter() - start
        per = results.drop_duplicates(["dgp", "n", "rep"])["seconds"]
        print(text)
        print(f"Wall time {elapsed:.1f} s; {per.mean():.1f} s per replication on average "
              f"(min {per.min():.1f}, max {per.max():.1f}); wrote results.csv, summary.csv, summary.md, "
              f"validation.png to {out}/", flush=True)
        return 0
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"medflow.validation: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
