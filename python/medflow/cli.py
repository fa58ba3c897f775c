"""The ``medflow`` command line: the Blau–Duncan main job, and ``fit`` for any data.

``medflow blau-duncan`` replicates the classical path analysis of Blau &
Duncan (1967) from their published correlations, then fits the linear SEM
and the causal flow to unit-level data (the bundled synthetic data by
default, ``--ocg FILE`` for a user's own OCG 1962 file or ``--csv FILE``)
and reports the effect of father's occupation X on son's occupation Y: the
total effect, natural direct and indirect effects via W and via U, their
interventional analogues and the sequential decomposition (U, then W), flow
and linear SEM side by side, with identification labels. On the bundled data
it also prints the true effects and each method's error. A report folder
receives the tables (CSV), the figures (PNG) and the printed text.

``medflow blau-duncan --data gss`` runs the same analysis on real data: the
General Social Survey men of :func:`medflow.datasets.gss_status_attainment`,
with the model ``U ~ V + X; Y ~ U + X; V ~~ X`` (the GSS has no first job W),
classical coefficients from the data's own correlations, bootstrap intervals
by default (:data:`GSS_BOOT` refits) and no truth.

``medflow fit --csv FILE --model "..." --treatment X --outcome Y
--mediator M`` runs the same analysis for any data and graph.

Errors are reported as one line, ``medflow: error: ...``, with exit code 2.

This module parses the arguments and prints and saves the results; the analysis itself
(:func:`medflow.analysis.analyse` and the sensitivity and distributional sections) lives in
:mod:`medflow.analysis`, which the names here re-export.

Example:
    >>> from medflow.cli import build_parser
    >>> args = build_parser().parse_args(["blau-duncan", "--boot", "50", "--contrast", "40", "20"])
    >>> args.command, args.boot, args.contrast
    ('blau-duncan', 50, [40.0, 20.0])
    >>> build_parser().parse_args(["blau-duncan", "--data", "gss"]).data
    'gss'
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medflow.analysis import (Analysis, _check_columns, _check_query, analyse, distributional_section,
                              sensitivity_section)
from medflow.estimands import LEVEL

__all__ = [
    "GSS_BOOT", "PUBLISHED_PATHS", "PUBLISHED_RESIDUALS", "Analysis", "analyse", "build_parser",
    "comparison_table", "default_fair_model", "format_comparison", "main",
    "sensitivity_section",
]

#: Standardized path coefficients of Blau & Duncan (1967, Fig. 5.1), keyed (cause, effect).
PUBLISHED_PATHS: dict[tuple[str, str], float] = {
    ("V", "U"): 0.310, ("X", "U"): 0.279,
    ("U", "W"): 0.440, ("X", "W"): 0.224,
    ("U", "Y"): 0.394, ("X", "Y"): 0.115, ("W", "Y"): 0.281,
}
#: Residual paths sqrt(1 - R²) of Blau & Duncan (1967, Fig. 5.1).
PUBLISHED_RESIDUALS: dict[str, float] = {"U": 0.859, "W": 0.818, "Y": 0.753}

_PROG = "medflow"

#: Default bootstrap refits of ``medflow blau-duncan --data gss``: the whole run stays under
#: 180 s on a shared 2-core machine (benchmarks/gss_cli_time.py).
GSS_BOOT = 40

#: Short names of the GSS variables for the printed output and the graph.
_GSS_LABELS = {
    "V": "father's education (years)",
    "X": "father's occupation (SEI, 2010 scores)",
    "U": "son's education (years)",
    "Y": "son's occupation (SEI, 2010 scores)",
}


# ====================================================================== small helpers
class _Console:
    """Prints to stdout and keeps a copy of every line for the report's ``summary.txt``."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        for line in str(text).splitlines() or [""]:
            self.lines.append(line)
        print(text, file=self.stream, flush=True)

    def text(self) -> str:
        return "\n".join(self.lines)


class _Step:
    """``[k/n] title`` on entry and ``done in x s`` on exit (progress of the long steps)."""

    def __init__(self, console: _Console, k: int, n: int, title: str, timings: dict[str, float],
                 short: str | None = None):
        self.console, self.k, self.n, self.title, self.timings = console, k, n, title, timings
        self.short = short or title

    def __enter__(self):
        self.console("")
        self.console(f"[{self.k}/{self.n}] {self.title}")
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            seconds = time.perf_counter() - self.start
            self.timings[self.short] = seconds
            self.console(f"      ({seconds:.1f} s)")
        return False


def _read_csv(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: '{path}'.")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"'{path}' is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"'{path}' could not be read as a CSV file ({str(err).strip()}).") from None
    if len(frame) == 0:
        raise ValueError(f"'{path}' has a header but no data rows.")
    return frame


def _fmt(x: float, digits: int = 3) -> str:
    return "." if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _sorted_labels(labels: Sequence[str], mediators: Sequence[str]) -> list[str]:
    """TE, natural effects per mediator, interventional effects per mediator, decomposition."""
    def key(label: str):
        code = label.split(" ")[0]
        med = label.split(" via ")[-1] if " via " in label else ""
        group = 0 if code == "TE" else 1 if code in ("NDE", "NIE") else 2 if code in ("rNDE", "rNIE") else 3
        m = mediators.index(med) if med in mediators else len(mediators)
        return (group, m if group in (1, 2) else 0, labels.index(label))
    return sorted(labels, key=key)


# ====================================================================== tables
def comparison_table(flow, linear, truth: pd.DataFrame | None = None,
                     mediators: Sequence[str] = ()) -> pd.DataFrame:
    """Flow and linear SEM in the comparison layout of :func:`medflow.compare` (one row per
    effect and method, ``name`` ``"flow"`` or ``"linear"``), labels in reading order.

    With ``truth`` (columns ``label``, ``truth``, ``truth_sd``): also those and
    ``error_sd`` = ``estimate_sd`` − ``truth_sd``.
    """
    import medflow as mf

    table = mf.compare(flow, linear, names=["flow", "linear"])
    labels = _sorted_labels(list(dict.fromkeys(table["label"])), list(mediators))
    rank = {lbl: k for k, lbl in enumerate(labels)}
    table = table.iloc[np.argsort(table["label"].map(rank).to_numpy(), kind="stable")]
    if truth is not None:
        t = truth.set_index("label")
        table = table.assign(truth=table["label"].map(t["truth"]), truth_sd=table["label"].map(t["truth_sd"]))
        table["error_sd"] = table["estimate_sd"] - table["truth_sd"]
    return table.reset_index(drop=True)


def format_comparison(table: pd.DataFrame, level: float | None = None) -> str:
    """The comparison table as printed: SD(Y) units first, raw units, truth and errors."""
    labels = list(dict.fromkeys(table["label"]))

    def wide(col: str) -> pd.DataFrame:
        return table.pivot(index="label", columns="name", values=col).reindex(labels)
    # intervals are shown when the flow has them (bootstrap); the linear SEM always has them
    has_ci = bool(table.loc[table["name"] == "flow", "ci_lower_sd"].notna().any())
    has_truth = "truth_sd" in table.columns
    cols: dict[tuple[str, str], list[str]] = {}
    for name, title in (("flow", "flow"), ("linear", "linear SEM")):
        cols[(title, "SD(Y)")] = [_fmt(v) for v in wide("estimate_sd")[name]]
        if has_ci:
            ci = f"{level:.0%} CI" if level else "CI"
            cols[(title, ci)] = [f"[{_fmt(lo)}, {_fmt(hi)}]" for lo, hi in
                                 zip(wide("ci_lower_sd")[name], wide("ci_upper_sd")[name])]
        cols[(title, "raw")] = [_fmt(v, 2) for v in wide("estimate")[name]]
    if has_truth:
        cols[("truth", "SD(Y)")] = [_fmt(v) for v in wide("truth_sd")["flow"]]
        cols[("error (SD(Y))", "flow")] = [_fmt(v) for v in wide("error_sd")["flow"]]
        cols[("error (SD(Y))", "linear")] = [_fmt(v) for v in wide("error_sd")["linear"]]
    cols[("", "identified")] = ["yes" if ok else f"no* ({w})" for ok, w in
                                zip(wide("identified")["flow"].astype(bool), wide("witness")["flow"])]
    frame = pd.DataFrame(cols, index=labels)
    frame.columns = pd.MultiIndex.from_tuples(list(cols))
    return frame.to_string(justify="right")


def _coefficient_table(published_fit, data_fit) -> pd.DataFrame:
    """Standardized paths and residual paths: published, from the published matrix, from the data."""
    rows = []
    for (cause, effect), value in PUBLISHED_PATHS.items():
        rows.append((effect, cause, value))
    for node, value in PUBLISHED_RESIDUALS.items():
        rows.append((node, "residual", value))
    out = pd.DataFrame(rows, columns=["equation", "predictor", "published"])

    def std_paths(fit):
        if fit is None:
            return {}
        par = fit.params
        slopes = {(r.lhs, r.rhs): r.std_all for r in par[par["op"] == "~"].itertuples()}
        slopes.update({(k, "residual"): v for k, v in fit.residual_paths.items()})
        return slopes

    for name, fit in (("from_correlations", published_fit), ("from_data", data_fit)):
        values = std_paths(fit)
        out[name] = [values.get((e, p), math.nan) for e, p in zip(out["equation"], out["predictor"])]
    return out


def _classical_text(table: pd.DataFrame, sem) -> str:
    lines = ["      Standardized path coefficients (residual path = sqrt(1 - R2)):",
             "      path             published  reproduced"]
    for e, p, pub, rep in zip(table["equation"], table["predictor"], table["published"],
                              table["from_correlations"]):
        lines.append(f"      {e + ' <- ' + p:<16} {pub:>9.3f}  {rep:>10.3f}")
    eff = sem.effects("X", "Y", mediators=["W"], interventional=False, a=1.0, a_ref=0.0).params
    pse = sem.path_effects("X", "Y", ["X -> W -> Y"], a=1.0, a_ref=0.0).params.iloc[0]
    pse2 = sem.path_effects("X", "Y", ["X -> U -> W -> Y"], a=1.0, a_ref=0.0).params.iloc[0]
    lines.append(f"      Path tracing per 1 SD of X: total effect {eff['TE']:.3f}; via W "
                 f"{eff['NIE via W']:.3f} (X->W->Y {pse:.3f}, X->U->W->Y {pse2:.3f}); not via W "
                 f"{eff['NDE via W']:.3f}.")
    return "\n".join(lines)


def _data_coefficient_table(corr_fit, data_fit) -> pd.DataFrame:
    """Standardized paths and residual paths from the data's correlations and from OLS on the data."""
    rows = []
    for name, fit in (("from_correlations", corr_fit), ("from_data", data_fit)):
        par = fit.params
        values = {(r.lhs, r.rhs): r.std_all for r in par[par["op"] == "~"].itertuples()}
        values.update({(k, "residual"): v for k, v in fit.residual_paths.items()})
        rows.append(pd.Series(values, name=name))
    out = pd.concat(rows, axis=1)
    out.index = out.index.set_names(["equation", "predictor"])
    return out.reset_index()


def _data_classical_text(corr: pd.DataFrame, sem, treatment: str, outcome: str,
                         mediators: Sequence[str]) -> str:
    """Duncan's path analysis of a correlation matrix: the matrix, the standardized paths and
    path tracing per 1 SD of the treatment."""
    lines = ["      Correlations:"]
    lines += ["      " + line for line in corr.round(3).to_string().splitlines()]
    lines.append("      Standardized path coefficients (residual path = sqrt(1 - R2)):")
    par = sem.params
    for r in par[par["op"] == "~"].itertuples():
        lines.append(f"      {r.lhs + ' <- ' + r.rhs:<16} {r.std_all:>7.3f}")
    for node, value in sem.residual_paths.items():
        lines.append(f"      {node + ' <- residual':<16} {value:>7.3f}")
    eff = sem.effects(treatment, outcome, mediators=list(mediators), interventional=False,
                      a=1.0, a_ref=0.0).params
    parts = [f"total effect {eff['TE']:.3f}"]
    for m in mediators:
        parts.append(f"via {m} {eff[f'NIE via {m}']:.3f}, not via {m} {eff[f'NDE via {m}']:.3f}")
    lines.append(f"      Path tracing per 1 SD of {treatment}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


# ====================================================================== real data
def _real_data_note(analysis: Analysis) -> str:
    """What real data without a first job can and cannot say."""
    intervals = ("the intervals are percentile bootstrap intervals" if analysis.flow.draws is not None
                 else "with --boot 0 the flow has no intervals and the linear SEM's are delta-method ones")
    return ("Real data: there is no known truth, so no truth or error columns; " + intervals + ". "
            "The GSS never asked for the first job, so the Blau-Duncan question of how much of "
            "father's occupation works through the first job W (NDE/NIE via W) cannot be answered "
            "from these data; it needs OCG 1962 (--ocg FILE) or a similar file with the first job.")


# ====================================================================== commands
def _truth_for(data_is_bundled: bool, a: float, a_ref: float) -> pd.DataFrame | None:
    """Truths for the bundled data (shipped at the default contrast, else from the known SCM)."""
    if not data_is_bundled:
        return None
    from medflow import datasets

    shipped = datasets.blau_duncan_truth()
    if np.isclose(shipped["a"].iloc[0], a) and np.isclose(shipped["a_ref"].iloc[0], a_ref):
        return shipped.rename(columns={"truth": "population_truth", "truth_sd": "population_truth_sd"}) \
            .rename(columns={"sample_truth": "truth", "sample_truth_sd": "truth_sd"})
    sim = datasets.simulate("blau_duncan", len(datasets.blau_duncan_synthetic()), seed=1967)
    return sim.sample_truth(a, a_ref)


def _report(args, console: _Console, analysis: Analysis, truth: pd.DataFrame | None,
            extra_tables: dict, extra_figures: dict, coefficients: pd.DataFrame,
            dag_coefficients: dict, labels: dict | None, truth_curve: pd.DataFrame | None) -> list[Path]:
    from medflow import report

    a = analysis
    tables = {
        "effects": pd.concat([a.flow.to_frame(), a.linear.to_frame()], ignore_index=True),
        "coefficients": coefficients,
        "comparison": a.comparison,
        "training_history": a.fit.history,
    }
    figures = {
        "dag": report.plot_dag(a.model, coefficients=dag_coefficients, labels=labels,
                               title="Causal graph (standardized coefficients of the linear SEM on the data)"),
        "forest": report.plot_forest(
            [a.flow, a.linear],
            truth=None if truth is None else dict(zip(truth["label"], truth["truth_sd"])),
            title=f"Effects of {a.treatment} on {a.outcome} ({a.a:g} vs {a.a_ref:g}), flow vs linear SEM"),
        "training_curves": report.plot_training(a.fit.history),
    }
    if a.dose_response is not None:
        tables["dose_response"] = a.dose_response
        figures["dose_response"] = report.plot_dose_response(
            a.dose_response, linear=a.linear_dose_response, truth=truth_curve,
            treatment=a.treatment, outcome=a.outcome)
    tables.update(extra_tables)
    figures.update(extra_figures)
    out = Path(args.out)
    files = report.write_report(out, tables=tables, figures=figures)
    a.fit.save(out / "flow_model", include_data=bool(getattr(args, "save_data", False)))
    files.append(out / "flow_model")
    console(f"      wrote {', '.join(p.name for p in files)} and summary.txt to {out}/")
    return files


def _effects_section(console: _Console, analysis: Analysis, truth: pd.DataFrame | None, level: float) -> None:
    a = analysis
    sd_y = float(a.data[a.outcome].std())
    console(f"      {a.treatment} = {a.a:g} vs {a.a_ref:g} ({a.contrast_how}); SD({a.outcome}) = {sd_y:.3f}; "
            f"N = {len(a.data):,}")
    console("")
    console(format_comparison(a.comparison, level=level))
    console("")
    bad = a.comparison[~a.comparison["identified"].astype(bool)]
    if len(bad):
        witnesses = ", ".join(sorted({w for w in bad["witness"] if w}))
        console(f"* not identified from the observed distribution alone ({witnesses}: recanting witness). "
                "The flow's estimate rests on monotone structural equations (one strictly increasing "
                "noise per node); the linear SEM's on linearity without interactions. The interventional "
                "analogues rNDE/rNIE are identified.")
    if a.order:
        console("PART rows: sequential decomposition of TE, mediators in the order "
                f"{', '.join(a.order)}; rNDE + rNIE need not add up to TE.")
    else:
        console("rNDE + rNIE need not add up to TE.")
    if truth is not None:
        console("truth: the effect averaged over these units under the known data-generating model "
                "(SD(Y) of the sample); error = estimate - truth.")
        errs = a.comparison.pivot(index="label", columns="name", values="error_sd")
        core = [lbl for lbl in ("TE", "NDE via W", "NIE via W") if lbl in errs.index]
        worst_flow = float(errs.loc[core, "flow"].abs().max())
        worst_lin = float(errs.loc[core, "linear"].abs().max())
        console(f"Largest |error| of TE, NDE and NIE via W: flow {worst_flow:.3f} SD(Y), linear SEM "
                f"{worst_lin:.3f} SD(Y).")


def _run(args, console: _Console, *, data: pd.DataFrame, source: str, model: str, treatment: str,
         outcome: str, mediators: list[str], order: list[str] | None, classical: bool | str,
         bundled: bool, real: bool = False, labels: dict | None = None,
         sensitivity: dict | None = None) -> int:
    """One analysis, printed and written to the report folder.

    ``classical``: ``True`` or ``"published"`` for Blau & Duncan's published correlations,
    ``"data"`` for the data's own correlations, ``False`` for none. ``real``: real data
    (the GSS path): the linearity check of the flow is printed and a closing note says what
    the data cannot answer. ``labels``: long variable names for the graph. ``sensitivity``:
    keyword arguments of :func:`sensitivity_section`.
    """
    import medflow as mf

    if classical is True:
        classical = "published"
    total = time.perf_counter()
    timings: dict[str, float] = {}
    n_steps = 4 + int(bool(classical)) + int(getattr(args, "sensitivity", False)) \
        + int(getattr(args, "distributional", False))
    counter = iter(range(1, n_steps + 1))

    def step(title, short=None):
        return _Step(console, next(counter), n_steps, title, timings, short)

    console(f"Data: {source}; N = {len(data):,}")
    console(f"Model: {model}")

    published_fit = None
    if classical == "published":
        with step("Classical coefficients from the published correlations (Blau & Duncan 1967, "
                  "p. 169; N = 20,700)", "classical"):
            corr = mf.datasets.blau_duncan_correlations()
            published_fit = mf.LinearSEM.from_moments(model, corr, n=corr.attrs["n"]).fit()
            coef = _coefficient_table(published_fit, None)
            console(_classical_text(coef, published_fit))
    elif classical == "data":
        with step(f"Classical path analysis from the data's correlations (N = {len(data):,})",
                  "classical"):
            names = list(mf.DAG.from_syntax(model).order)
            corr = data[names].corr()
            published_fit = mf.LinearSEM.from_moments(model, corr, n=len(data)).fit()
            console(_data_classical_text(corr, published_fit, treatment, outcome, mediators))

    analysis = analyse(data, model, treatment, outcome, mediators, order, contrast=args.contrast,
                       boot=args.boot, seed=args.seed, epochs=args.epochs,
                       level=args.level,
                       progress=not args.no_progress, console=console, step=step)
    # the linearity check is printed with the fit (step 3); the report gets it as a table
    extra_tables, extra_figures = {"linearity": analysis.fit.linearity()}, {}
    truth = _truth_for(bundled, analysis.a, analysis.a_ref)
    analysis.comparison = comparison_table(analysis.flow, analysis.linear, truth, mediators)
    analysis.timings = timings
    _effects_section(console, analysis, truth, args.level)
    if real:
        console(_real_data_note(analysis))

    if getattr(args, "sensitivity", False):
        with step("Sensitivity to unobserved confounding (rho-curves)", "sensitivity"):
            tables, figures = sensitivity_section(
                analysis, seed=args.seed, progress=not args.no_progress, console=console,
                **(sensitivity or {}))
            extra_tables.update(tables)
            extra_figures.update(figures)

    if getattr(args, "distributional", False):
        with step("Distributional effects and mobility tables (flow vs linear SEM)", "distributional"):
            more_tables, more_figures = distributional_section(
                analysis, boot=args.boot, level=args.level, seed=args.seed,
                progress=not args.no_progress, bundled=bundled, console=console)
            extra_tables.update(more_tables)
            extra_figures.update(more_figures)

    with step(f"Writing the report folder {args.out}/", "report"):
        if classical == "published":
            coef = _coefficient_table(published_fit, analysis.sem)
        elif classical == "data":
            coef = _data_coefficient_table(published_fit, analysis.sem)
        else:
            coef = analysis.sem.params
        std = analysis.sem.params
        dag_coef = {(r.rhs, r.lhs): r.std_all for r in std[std["op"] == "~"].itertuples()}
        if labels is None and classical == "published":
            labels = mf.datasets.blau_duncan_correlations().attrs["labels"]
        truth_curve = None
        if bundled and analysis.dose_response is not None:
            sim = mf.datasets.simulate("blau_duncan", 2, seed=0)
            truth_curve = sim.dose_response(analysis.dose_response["a"].to_numpy(), n_mc=200_000)
        _report(args, console, analysis, truth, extra_tables, extra_figures, coef, dag_coef, labels,
                truth_curve)
    elapsed = time.perf_counter() - total
    console("")
    console(f"Total time {elapsed:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + ").")
    (Path(args.out) / "summary.txt").write_text(console.text() + "\n", encoding="utf-8")
    return 0


def _cmd_blau_duncan(args, console: _Console) -> int:
    from medflow import datasets

    if args.sensitivity:
        try:
            import medflow.sensitivity  # noqa: F401
        except ImportError:
            raise ValueError("--sensitivity needs the module medflow.sensitivity, which this "
                             "installation does not have.") from None
    bundled = False
    if args.ocg:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = datasets.read_ocg1962(args.ocg)
        for w in caught:
            console(f"note: {w.message}")
        source = f"OCG 1962 file '{args.ocg}' (white men with complete V, X, U, W, Y)"
    elif args.csv:
        data = _read_csv(args.csv)
        _check_columns(data, ["V", "X", "U", "W", "Y"], f"'{args.csv}'")
        source = f"'{args.csv}'"
    elif args.data == "gss":
        return _cmd_gss(args, console)
    else:
        data = datasets.blau_duncan_synthetic()
        bundled = True
        source = "bundled synthetic Blau-Duncan data (medflow.datasets.blau_duncan_synthetic; known truths)"
    console("medflow blau-duncan: father's occupation X -> son's occupation Y, through son's education U "
            "and first job W")
    return _run(args, console, data=data, source=source, model=datasets.MODEL, treatment="X",
                outcome="Y", mediators=["W", "U"], order=["U", "W"], classical=True, bundled=bundled)


def _cmd_gss(args, console: _Console) -> int:
    """``medflow blau-duncan --data gss``: the real-data analysis (GSS 2006-2010, no W)."""
    from medflow import datasets

    gss = datasets.gss_status_attainment()
    data = gss[["V", "X", "U", "Y"]]
    source = ("General Social Survey 2006-2010 panels, first wave: men aged 25-64 "
              "(medflow.datasets.gss_status_attainment; real data, no known truth)")
    console("medflow blau-duncan --data gss: father's occupation X -> son's occupation Y, through son's "
            "education U (the GSS has no first job W)")
    console("Cite: " + gss.attrs["citation"] + ".")
    return _run(args, console, data=data, source=source, model=datasets.GSS_MODEL, treatment="X",
                outcome="Y", mediators=["U"], order=[], classical="data", bundled=False, real=True,
                labels=_GSS_LABELS,
                sensitivity=dict(pairs=[("U", "Y")], estimand="NIE via U"))


def _cmd_fit(args, console: _Console) -> int:
    from medflow.dag import as_dag

    data = _read_csv(args.csv)
    dag = as_dag(args.model)
    _check_columns(data, dag.order, f"'{args.csv}'")
    mediators = list(args.mediator or [])
    _check_query(dag, args.treatment, args.outcome, mediators + list(args.order or []))
    console(f"medflow fit: effect of {args.treatment} on {args.outcome}"
            + (f" via {', '.join(mediators)}" if mediators else ""))
    return _run(args, console, data=data, source=f"'{args.csv}'", model=args.model,
                treatment=args.treatment, outcome=args.outcome, mediators=mediators,
                order=list(args.order) if args.order else None, classical=False, bundled=False)


def _cmd_fair(args, console: _Console) -> int:
    """``medflow fair``: fit the flow, refit it with the disallowed paths' effect within bounds,
    print both and (with ``--out``) write the unconstrained and fair predictions per row."""
    from medflow.dag import as_dag
    from medflow.fairness import fair, predict
    from medflow.model import CausalFlow

    data = _read_csv(args.csv)
    model = args.model
    if model is None:
        model = default_fair_model(list(data.columns), args.sensitive, args.outcome, args.baseline or [])
        console("Graph (no --model given: the sensitive variable and the --baseline covariates are "
                "roots, every other column a mediator in column order, each caused by the sensitive "
                "variable, the baseline and the columns before it; the outcome caused by all):")
        for statement in model.split("; "):
            console(f"  {statement}")
    elif args.baseline:
        raise ValueError("--baseline only applies to the default graph; with --model, write the "
                         "baseline covariates into the model.")
    args.model = model
    dag = as_dag(model)
    _check_columns(data, dag.order, f"'{args.csv}'")
    if (args.disallow is None) == (args.mediator is None):
        raise ValueError("Give the disallowed paths with --disallow (e.g. --disallow \"A -> Y\") or "
                         "the allowed mediators with --mediator, not both and not neither.")
    frame = data.loc[:, list(dag.order)]
    console(f"medflow fair: effect of {args.sensitive} on {args.outcome} along "
            + ("; ".join(args.disallow) if args.disallow else
               f"the paths avoiding {', '.join(args.mediator)}")
            + f", constrained to [{args.bounds[0]:g}, {args.bounds[1]:g}] ({args.scale})")
    fit = CausalFlow(args.model, frame).fit(seed=args.seed, epochs=args.epochs,
                                            verbose=not args.no_progress)
    res = fair(fit, args.sensitive, args.outcome, args.disallow, mediators=args.mediator,
               bounds=tuple(args.bounds), scale=args.scale, keep=args.keep, seed=args.seed,
               max_rounds=args.max_rounds)
    console(res.summary())
    if args.out:
        out = Path(args.out)
        preds = pd.DataFrame({"unconstrained": predict(fit, frame, args.outcome),
                              "fair": res.predict(frame)}, index=data.index)
        out.parent.mkdir(parents=True, exist_ok=True)
        preds.to_csv(out, index=False)
        console(f"Predictions (E[Y | parents] and the fair E*[Y | {', '.join(res.keep)}]) for each row "
                f"written to {out}.")
    return 0


def default_fair_model(columns: Sequence[str], sensitive: str, outcome: str,
                       baseline: Sequence[str] = ()) -> str:
    """The graph ``medflow fair`` uses without ``--model``, as model syntax.

    The sensitive variable (race, sex: fixed at birth) and the ``baseline`` covariates are
    roots, correlated with one another (``~~``: no causal order is claimed among them).
    Every other column except the outcome is a mediator, in column order: each is caused by
    the sensitive variable, the baseline and the mediators before it (a complete graph, so
    it assumes nothing about the mediators' joint law given what comes before). The outcome
    is caused by every other column. The natural direct effect (``--disallow "A -> Y"``)
    does not depend on the mediators' order; effects along paths through single mediators do.

    Example:
        >>> default_fair_model(["race", "age", "priors", "y"], "race", "y", ["age"])
        'priors ~ race + age; y ~ race + age + priors; race ~~ age'
    """
    columns = [str(c) for c in columns]
    for name, flag in ((sensitive, "--sensitive"), (outcome, "--outcome")):
        if name not in columns:
            raise ValueError(f"{flag} {name} is not a column of the data (columns: {', '.join(columns)}).")
    if sensitive == outcome:
        raise ValueError("--sensitive and --outcome must be different columns.")
    base = list(dict.fromkeys(baseline))
    bad = [b for b in base if b not in columns or b in (sensitive, outcome)]
    if bad:
        raise ValueError(f"--baseline names {', '.join(bad)}, which are not columns of the data other "
                         "than the sensitive variable and the outcome.")
    roots = [sensitive] + base
    mediators = [c for c in columns if c not in roots and c != outcome]
    statements, before = [], list(roots)
    for m in mediators:
        statements.append(f"{m} ~ {' + '.join(before)}")
        before.append(m)
    statements.append(f"{outcome} ~ {' + '.join(before)}")
    statements += [f"{a} ~~ {b}" for i, a in enumerate(roots) for b in roots[i + 1:]]
    return "; ".join(statements)


# ====================================================================== parser and entry point
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--contrast", nargs=2, type=float, metavar=("A", "A_REF"),
                   help="treatment values to contrast (default: its 75th vs 25th percentile; 1 vs 0 "
                        "if binary)")
    p.add_argument("--boot", type=int, default=None, metavar="N",
                   help="bootstrap refits for intervals (default 0: none for the flow, delta-method "
                        f"intervals for the linear SEM; {GSS_BOOT} with --data gss); e.g. 200")
    p.add_argument("--level", type=float, default=LEVEL, help=f"interval level (default {LEVEL})")
    p.add_argument("--out", default="medflow-report", metavar="DIR",
                   help="report folder (default medflow-report)")
    p.add_argument("--save-data", action="store_true",
                   help="also store the analysed rows in the saved model (OUT/flow_model); by "
                        "default no microdata are written")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: torch's choice, one per core; the ensemble's "
                        "batched members use them: 20 s instead of 33 s for the main job's fit on 2 "
                        "cores). Use 1 when other jobs share the cores")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="training epochs of the flow (default: chosen from the data by the library)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``medflow`` command."""
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Causal mediation analysis with causal-graphical normalizing flows.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    bd = sub.add_parser(
        "blau-duncan", help="the Blau-Duncan (1967) analysis, flow beside the linear SEM",
        description="Reproduce Blau & Duncan's path coefficients from their published correlations, "
                    "then fit the linear SEM and the causal flow and estimate the effects of father's "
                    "occupation X on son's occupation Y (via first job W and education U). With "
                    "--data gss: the same for real General Social Survey men (2006-2010), who have "
                    "no first job (via education U only).")
    src = bd.add_mutually_exclusive_group()
    src.add_argument("--ocg", metavar="FILE", help="your own OCG 1962 fixed-width file (ICPSR 6162)")
    src.add_argument("--csv", metavar="FILE", help="a CSV file with columns V, X, U, W, Y")
    src.add_argument("--data", choices=["synthetic", "gss"], default=None,
                     help="bundled data: 'synthetic' (default; known truths) or 'gss', real General "
                          "Social Survey men 2006-2010 without first job (model U ~ V + X; Y ~ U + X; "
                          f"V ~~ X; default --boot {GSS_BOOT})")
    _common(bd)
    bd.add_argument("--sensitivity", action="store_true",
                    help="add rho-sensitivity curves of the NIE via W (pairs U-Y and W-Y; with "
                         "--data gss: the NIE via U, pair U-Y)")
    bd.add_argument("--distributional", action="store_true",
                    help="add quantile effects (q = .1, .25, .5, .75, .9) and observed vs counterfactual "
                         "mobility tables (U held at its value under X's 25th percentile)")
    ft = sub.add_parser("fit", help="the same analysis for any data and graph",
                        description="Fit the linear SEM and the causal flow to a CSV file and estimate "
                                    "total, natural and interventional effects side by side.")
    ft.add_argument("--csv", metavar="FILE", required=True, help="data, one column per variable")
    ft.add_argument("--model", required=True,
                    help='model syntax, e.g. "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"')
    ft.add_argument("--treatment", required=True)
    ft.add_argument("--outcome", required=True)
    ft.add_argument("--mediator", action="append", metavar="M",
                    help="a mediator (repeat for several; each gives NDE/NIE via it)")
    ft.add_argument("--order", nargs="+", metavar="M",
                    help="mediators for the sequential decomposition (default: --mediator in causal order)")
    _common(ft)
    fa = sub.add_parser(
        "fair", help="fair inference: refit with a path-specific effect within bounds",
        description="Fit the causal flow, then refit it so that the effect of a sensitive variable "
                    "on the outcome along disallowed paths lies within bounds (Nabi & Shpitser 2018), "
                    "and report the effect and the likelihood before and after.")
    fa.add_argument("--csv", metavar="FILE", required=True, help="data, one column per variable")
    fa.add_argument("--model", default=None,
                    help='model syntax, e.g. "priors_count ~ race + age + sex; '
                         'two_year_recid ~ race + priors_count + age + sex". Default (printed): the '
                         "sensitive variable and the --baseline covariates are correlated roots; every "
                         "other column is a mediator, in column order, caused by the sensitive "
                         "variable, the baseline and the columns before it; the outcome is caused by "
                         "all. Name the covariates that the sensitive variable cannot affect (such as "
                         "age and sex for race) with --baseline, or they are taken as mediators")
    fa.add_argument("--baseline", nargs="+", metavar="V",
                    help="without --model: root covariates (not caused by the sensitive variable), "
                         "e.g. --baseline age sex")
    fa.add_argument("--sensitive", required=True, help="the sensitive variable (e.g. race)")
    fa.add_argument("--outcome", required=True)
    fa.add_argument("--disallow", action="append", metavar="PATH",
                    help='a disallowed path, e.g. "race -> two_year_recid" (repeat for several)')
    fa.add_argument("--mediator", action="append", metavar="M",
                    help="instead of --disallow: an allowed mediator; every path avoiding the "
                         "mediators is disallowed")
    fa.add_argument("--bounds", nargs=2, type=float, required=True, metavar=("LOWER", "UPPER"))
    fa.add_argument("--scale", choices=["difference", "ratio", "odds ratio"], default="difference")
    fa.add_argument("--keep", nargs="+", metavar="V",
                    help="variables the fair predictions take from each row (default: those whose "
                         "flows the constraint leaves unchanged)")
    fa.add_argument("--out", metavar="FILE", help="write per-row predictions to this CSV file")
    fa.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fa.add_argument("--threads", type=int, default=None, metavar="N",
                    help="torch CPU threads (default: torch's choice, one per core)")
    fa.add_argument("--no-progress", action="store_true", help="no progress bars")
    fa.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    fa.add_argument("--max-rounds", type=int, default=12, help=argparse.SUPPRESS)
    fa.set_defaults(boot=0, level=LEVEL)
    return parser


def _with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in the defaults that depend on other arguments: ``--boot`` is :data:`GSS_BOOT`
    with ``--data gss`` and 0 otherwise."""
    if args.boot is None:
        args.boot = GSS_BOOT if getattr(args, "data", None) == "gss" else 0
    return args


def _check_input(flag: str, name: str | None) -> None:
    """Raise unless ``name`` (an input file given with ``flag``) is a readable file."""
    if name is None:
        return
    path = Path(name)
    if not path.exists():
        raise ValueError(f"{flag} '{name}': no such file.")
    if not path.is_file():
        raise ValueError(f"{flag} '{name}' is a folder, not a file.")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise ValueError(f"{flag} '{name}' cannot be read ({err.strerror}).") from None


def _check_out(name: str) -> None:
    """Raise unless the report folder ``name`` exists and is writable, or can be created.

    Nothing is created here: the check looks at the folder, or at its nearest existing
    parent, so that a report that cannot be written is refused before any fitting.
    """
    import os

    path = Path(name)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out '{name}' is an existing file; give a folder for the report.")
    target = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), None)
    if target is None or not target.is_dir():
        raise ValueError(f"--out '{name}' cannot be created: '{target}' is a file, not a folder.")
    if not os.access(target, os.W_OK | os.X_OK):
        where = "" if target == path else f" (its parent '{target}' is not writable)"
        raise ValueError(f"--out '{name}' cannot be written{where}; give a folder you can write to.")
    if (path / "flow_model").exists() and not (path / "flow_model").is_dir():
        raise ValueError(f"--out '{name}' holds a file named flow_model, where the saved model goes; "
                         "remove it or choose another folder.")


def _check_paths(args) -> None:
    """Validate every path of the command line before any work."""
    _check_input("--csv", getattr(args, "csv", None))
    _check_input("--ocg", getattr(args, "ocg", None))
    if args.command == "fair":   # --out is a CSV file of predictions there
        if args.out is not None:
            out = Path(args.out)
            if out.is_dir():
                raise ValueError(f"--out '{args.out}' is a folder; give a file name for the predictions.")
            parent = out.absolute().parent
            if not parent.is_dir():
                raise ValueError(f"--out '{args.out}' cannot be written: its folder '{parent}' does not exist.")
        return
    _check_out(args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medflow`` command; returns the exit code (2 on an error)."""
    args = _with_defaults(build_parser().parse_args(argv))
    console = _Console()
    try:
        if args.boot < 0 or args.boot == 1:
            raise ValueError(f"--boot must be 0 (no bootstrap) or at least 2, got {args.boot}.")
        if not 0 < args.level < 1:
            raise ValueError(f"--level must be between 0 and 1, got {args.level:g}.")
        if args.epochs is not None and args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {args.epochs}.")
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}.")
        _check_paths(args)
        import torch

        if args.threads is not None:
            torch.set_num_threads(args.threads)  # this process only: the command owns it
        command = {"blau-duncan": _cmd_blau_duncan, "fit": _cmd_fit, "fair": _cmd_fair}[args.command]
        return command(args, console)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        message = " ".join(str(err).split())
        print(f"{_PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
