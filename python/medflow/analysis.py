"""One analysis of a mediation question: the linear SEM and the flow fitted side by side.

:func:`analyse` fits the linear SEM and the causal flow to the same data and estimates the
effects of one treatment on one outcome with both (natural and interventional effects per
mediator, the sequential decomposition, the dose-response curve); it returns an
:class:`Analysis`. :func:`sensitivity_section` and :func:`distributional_section` add the
ρ-sensitivity analysis and the quantile effects / mobility tables to a finished analysis.
The command line (:mod:`medflow.cli`) is a thin layer over these functions: it parses the
arguments, calls them and prints and saves what they return.

Example:
    >>> from medflow.analysis import Analysis
    >>> run = Analysis(data=None, model="M ~ X; Y ~ X + M", treatment="X", outcome="Y",
    ...                mediators=["M"], order=["M"])
    >>> run.fit is None and run.comparison is None   # filled in by analyse() and the caller
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medflow.estimands import LEVEL

__all__ = ["Analysis", "analyse", "distributional_section", "sensitivity_section"]

def _check_columns(data: pd.DataFrame, names: Sequence[str], source: str) -> None:
    absent = [v for v in names if v not in data.columns]
    if absent:
        raise ValueError(f"The model variable(s) {', '.join(absent)} are not columns of {source} "
                         f"(columns: {', '.join(map(str, data.columns))}).")




# ====================================================================== the analysis
@dataclass
class Analysis:
    """Everything one run of the command computes (also handy from Python).

    Attributes:
        data: the analysed rows; model: the model syntax; treatment, outcome, mediators, order.
        a, a_ref, contrast_how: the contrast and how it was chosen.
        sem: the linear SEM fitted to the data (:class:`~medflow.linear.LinearSEMResults`).
        fit: the fitted flow (:class:`~medflow.model.FittedFlow`).
        flow, linear: effects (natural, interventional and decomposition rows) of each method.
        comparison: the side-by-side table (:func:`comparison_table`).
        dose_response, linear_dose_response: E[Y(a)] over a grid (flow, linear SEM).
        timings: seconds per step.
    """

    data: pd.DataFrame
    model: str
    treatment: str
    outcome: str
    mediators: list[str]
    order: list[str]
    a: float = math.nan
    a_ref: float = math.nan
    contrast_how: str = ""
    sem: object = None
    fit: object = None
    flow: object = None
    linear: object = None
    comparison: pd.DataFrame | None = None
    dose_response: pd.DataFrame | None = None
    linear_dose_response: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _contrast(data: pd.DataFrame, treatment: str, contrast: Sequence[float] | None) -> tuple[float, float, str]:
    from medflow.estimands import default_contrast

    values = data[treatment].to_numpy(dtype=float)
    lo, hi = float(values.min()), float(values.max())
    if contrast is None:
        return default_contrast(values)
    a, a_ref = (float(v) for v in contrast)
    for name, v in (("A", a), ("A_REF", a_ref)):
        if not lo <= v <= hi:
            raise ValueError(f"--contrast {name} = {v:g} is outside the observed range of {treatment} "
                             f"[{lo:g}, {hi:g}].")
    if a == a_ref:
        raise ValueError(f"--contrast gives {a:g} twice; the two treatment values must differ.")
    return a, a_ref, "given"


def _combine(effects, decomposition):
    """One EffectsResult: the effects rows, then the decomposition parts (its TE row dropped)."""
    from medflow.results import EffectsResult

    parts = decomposition.table[decomposition.table["estimand"] == "PART"]
    table = pd.concat([effects.table, parts], ignore_index=True)
    draws = None
    if effects.draws is not None and decomposition.draws is not None:
        draws = pd.concat([effects.draws, decomposition.draws[list(parts["label"])]], axis=1)
    notes = list(dict.fromkeys(effects.notes + decomposition.notes))
    return EffectsResult(table, notes=notes, draws=draws)


def analyse(data: pd.DataFrame, model: str, treatment: str, outcome: str, mediators: Sequence[str],
            order: Sequence[str] | None = None, *, contrast: Sequence[float] | None = None,
            boot: int = 0, seed: int = 0, epochs: int | None = None,
            level: float = LEVEL, progress: bool = True, fit_options: dict | None = None,
            console: Callable[[str], None] | None = None,
            step: Callable[[str], object] | None = None) -> Analysis:
    """Fit the linear SEM and the flow and estimate the effects, both methods side by side.

    Args:
        data: one row per unit with a column per model variable.
        model: model syntax.
        treatment, outcome: variable names.
        mediators: each is one mediator set (natural and interventional effects via it).
        order: mediators for the sequential decomposition (default: ``mediators`` in causal order).
        contrast: ``(a, a_ref)``; default the 75th vs 25th percentile (1 vs 0 if binary).
        boot: bootstrap refits of the flow (and resamples of the linear SEM); 0 = delta-method
            intervals for the linear SEM only.
        seed: seeds the fit, the effects and the bootstrap.
        epochs: training epochs (default: chosen from the data, as in :meth:`medflow.CausalFlow.fit`).
        level: interval level.
        progress: progress bars.
        fit_options: further arguments of :meth:`medflow.CausalFlow.fit` (e.g. ``{"members": 3}``);
            everything not given is chosen from the data by the library.
        console: where to print the short progress lines (default: nowhere).
        step: context-manager factory ``step(title, short_name)`` wrapping each long step.
    """
    import contextlib

    import medflow as mf

    say = console or (lambda text="": None)
    stepper = step or (lambda title, short=None: contextlib.nullcontext())
    mediators, order = list(mediators), list(order) if order is not None else None
    dag = mf.DAG.from_syntax(model) if isinstance(model, str) else mf.dag.as_dag(model)
    _check_query(dag, treatment, outcome, mediators + (order or []))
    if order is None:
        order = [n for n in dag.order if n in mediators]
    _check_columns(data, dag.order, "the data")
    a, a_ref, how = _contrast(data, treatment, contrast)
    out = Analysis(data=data, model=model, treatment=treatment, outcome=outcome,
                   mediators=mediators, order=order, a=a, a_ref=a_ref, contrast_how=how)
    opts = dict(a=a, a_ref=a_ref, level=level)
    boot = int(boot)
    if boot == 1 or boot < 0:
        raise ValueError(f"--boot must be 0 (no bootstrap) or at least 2, got {boot}.")

    with stepper("Linear SEM on the data (OLS per equation)", "linear SEM"):
        sem = mf.LinearSEM(model, data).fit()
        lin_opts = dict(opts, n_boot=boot, se="bootstrap", seed=seed) if boot else dict(opts, se="delta")
        lin = sem.effects(treatment, outcome, mediators=mediators, **lin_opts)
        if order:
            lin = _combine(lin, sem.decompose(treatment, outcome, order=order, **lin_opts))
        out.sem, out.linear = sem, lin
        say(_equations_text(sem))

    with stepper(f"Fitting the flow: one monotone spline flow per node, a cross-fitted ensemble "
                 f"(seed {seed})", "flow fit"):
        fit = mf.CausalFlow(model, data).fit(seed=seed, verbose=progress,
                                             **{"epochs": epochs, **(fit_options or {})})
        say("\n".join("      " + line for line in fit.summary().splitlines()))
        out.fit = fit

    title = f"Effects of {treatment} on {outcome}" + (f" with {boot} bootstrap refits" if boot else "")
    with stepper(title, "effects"):
        flow_opts = dict(opts, n_boot=boot, seed=seed, verbose=progress)
        res = fit.effects(treatment, outcome, mediators=mediators, **flow_opts)
        if order:
            res = _combine(res, fit.decompose(treatment, outcome, order=order, **flow_opts))
        out.flow = res
        if len(np.unique(data[treatment])) > 2:
            out.dose_response = fit.dose_response(treatment, outcome, n_boot=boot, seed=seed,
                                                  verbose=progress, level=level)
            slope = float(sem.effects(treatment, outcome, mediators=[], interventional=False,
                                      a=1.0, a_ref=0.0).params["TE"])
            grid = out.dose_response["a"].to_numpy()
            mean_y, mean_x = float(data[outcome].mean()), float(data[treatment].mean())
            out.linear_dose_response = pd.DataFrame({"a": grid, "estimate": mean_y + slope * (grid - mean_x)})
    return out


def _check_query(dag, treatment: str, outcome: str, mediators: Sequence[str]) -> None:
    for flag, name in [("--treatment", treatment), ("--outcome", outcome)] + [("--mediator", m) for m in mediators]:
        if name not in dag.order:
            raise ValueError(f"{flag} {name} is not a variable of the model (variables: "
                             f"{', '.join(dag.order)}).")
    if treatment == outcome:
        raise ValueError("--treatment and --outcome name the same variable.")
    if outcome not in dag.descendants(treatment):
        raise ValueError(f"{outcome} is not a descendant of {treatment} in the model, so every effect of "
                         f"{treatment} on {outcome} is zero by assumption.")
    on_paths = {n for p in dag.paths(treatment, outcome) for n in p[1:-1]}
    off = [m for m in mediators if m not in on_paths]
    if off:
        raise ValueError(f"--mediator {off[0]} is not on a directed path from {treatment} to {outcome}.")


def _equations_text(sem) -> str:
    """One line per equation with standardized coefficients and R²."""
    par = sem.params
    lines = []
    for lhs in sem.equations:
        rows = par[(par["lhs"] == lhs) & (par["op"] == "~")]
        terms = " + ".join(f"{r.std_all:.3f} {r.rhs}" for r in rows.itertuples())
        lines.append(f"      {lhs} = {terms}   (standardized; R2 {sem.rsquared[lhs]:.3f}, "
                     f"residual path {sem.residual_paths[lhs]:.3f})")
    return "\n".join(lines)


# ====================================================================== sensitivity hook
def sensitivity_section(analysis: Analysis, *, pairs: Sequence[tuple[str, str]] = (("U", "Y"), ("W", "Y")),
                        estimand: str = "NIE via W", rho: Sequence[float] | None = None, seed: int = 0,
                        progress: bool = True,
                        console: Callable[[str], None] | None = None) -> tuple[dict, dict]:
    """ρ-sensitivity of one effect to unobserved confounding of node pairs (ρ-GNF).

    The hook of the sensitivity analysis in the main job: ``medflow blau-duncan
    --sensitivity`` calls it after the effects, with the NIE via W and the noise pairs
    U–Y and W–Y (each analysed separately), through :func:`medflow.sensitivity.sensitivity`.
    Extend it here (more estimands, pairs, bootstrap intervals).

    Args:
        analysis: the fitted analysis (:func:`analyse`).
        pairs: node pairs whose noises get correlation rho, one curve each.
        estimand: the effect label to follow.
        rho: the grid (default: that of :func:`medflow.sensitivity.sensitivity`).
        seed: seeds the refits.
        progress: progress bars.
        console: where to print the summary.

    Returns:
        ``(tables, figures)`` to add to the report: ``sensitivity`` (tidy table),
        ``sensitivity_rho_values`` and the figure ``sensitivity``.

    Raises:
        ValueError: when this installation has no :mod:`medflow.sensitivity`.
    """
    try:
        from medflow.sensitivity import sensitivity
    except ImportError:
        raise ValueError("--sensitivity needs the module medflow.sensitivity, which this "
                         "installation does not have.") from None
    say = console or (lambda text="": None)
    mediator = estimand.split(" via ")[-1] if " via " in estimand else None
    options = {} if rho is None else {"rho": list(rho)}
    result = sensitivity(analysis.fit, pairs=[tuple(p) for p in pairs], treatment=analysis.treatment,
                         outcome=analysis.outcome, mediators=[mediator] if mediator else None,
                         estimands=[estimand], a=analysis.a, a_ref=analysis.a_ref, seed=seed,
                         verbose=progress, **options)
    say("      " + result.summary().replace("\n", "\n      "))
    tables = {"sensitivity": result.table, "sensitivity_rho_values": result.rho_values()}
    return tables, {"sensitivity": result.plot()}


# ====================================================================== distributional hook
def _quantile_grid(table: pd.DataFrame, column: str = "estimate_sd") -> pd.DataFrame:
    """Quantile rows as a grid: one row per effect, one column per quantile."""
    t = table.dropna(subset=["quantile"])
    t = t.assign(effect=t["label"].str.replace(r" \[q=.*\]$", "", regex=True))
    grid = t.pivot(index="effect", columns="quantile", values=column)
    grid = grid.reindex(list(dict.fromkeys(t["effect"])))
    grid.columns = [f"q={q:g}" for q in grid.columns]
    grid.index.name = None
    return grid


def distributional_section(analysis: Analysis, *, quantiles: Sequence[float] = (0.1, 0.25, 0.5, 0.75, 0.9),
                           mobility_mediators: Sequence[str] = ("U",), bins: int = 5, boot: int = 0,
                           level: float = LEVEL, seed: int = 0,
                           progress: bool = True, bundled: bool = False,
                           console: Callable[[str], None] | None = None) -> tuple[dict, dict]:
    """Quantile effects and observed vs counterfactual mobility tables, flow beside the linear SEM.

    The hook of ``medflow blau-duncan --distributional``: quantile effects of the treatment on
    the outcome (:func:`medflow.distributional.distributional_effects`, the linear SEM's by
    simulation) at ``quantiles``, and the mobility table of treatment (origin) and outcome
    (destination) in ``bins`` quantile bins, observed and with ``mobility_mediators`` held at
    their values under the treatment's 25th percentile. On the bundled data the truths of the
    data's model (these units, shared noise) are printed beside them.

    Returns:
        ``(tables, figures)`` for the report: ``distributional_effects``, ``mobility_tables``,
        ``mobility_indices`` (and ``distributional_truth`` on the bundled data); the figures
        ``quantile_effects`` and ``mobility``.
    """
    from medflow import datasets
    from medflow.simulation import designs
    from medflow.simulation import truth as oracle
    from medflow.distributional import _mobility, plot_quantile_effects

    say = console or (lambda text="": None)
    a = analysis
    flow = a.fit.distributional_effects(
        a.treatment, a.outcome, mediators=a.mediators, quantiles=list(quantiles), means=False, a=a.a,
        a_ref=a.a_ref, n_boot=boot, level=level, seed=seed, verbose=progress)
    linear = a.sem.distributional_effects(a.treatment, a.outcome, mediators=a.mediators,
                                          quantiles=list(quantiles), means=False, a=a.a, a_ref=a.a_ref,
                                          seed=seed)
    tables = {"distributional_effects": pd.concat([flow.to_frame(), linear.to_frame()], ignore_index=True)}
    grid = _quantile_grid(flow.table)
    say(f"      Quantile effects of {a.treatment} on {a.outcome} ({a.a:g} vs {a.a_ref:g}), flow, SD({a.outcome}) "
        "units: Q_q(Y in the active world) - Q_q(Y in the reference world)")
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        say("      " + grid.to_string().replace("\n", "\n      "))
        if boot:
            lo, hi = _quantile_grid(flow.table, "ci_lower_sd"), _quantile_grid(flow.table, "ci_upper_sd")
            say(f"      {level:.0%} bootstrap intervals ({boot} refits), lower / upper:")
            say("      " + lo.to_string().replace("\n", "\n      "))
            say("      " + hi.to_string().replace("\n", "\n      "))
    lin = _quantile_grid(linear.table)
    say("      Linear SEM (simulated from the fitted Gaussian SEM): a shift model, so every quantile "
        "effect equals its mean effect: " + ", ".join(f"{e} {v:.3f}" for e, v in lin.iloc[:, 0].items()) + ".")
    truth_noise = None
    if bundled:
        sim = datasets.simulate("blau_duncan", len(a.data), seed=1967)
        if sim.data[list(a.data.columns)].equals(a.data.astype(sim.data.dtypes.to_dict())):
            scm = designs._SCMS["blau_duncan"]
            truth_noise = sim.noise.to_numpy()
            fresh = np.random.default_rng(seed).standard_normal((len(truth_noise), 2))
            truth = oracle._distributional_truth(scm, truth_noise, fresh, a.a, a.a_ref, quantiles)
            tables["distributional_truth"] = truth
            t = truth.set_index("label")["truth_sd"]
            est = flow.table.set_index("label")["estimate_sd"]
            err = (est - t.reindex(est.index)).dropna()
            tgrid = _quantile_grid(truth.assign(estimate_sd=truth["truth_sd"]))
            with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
                say("      truth (the data's model, these units, shared noise):")
                say("      " + tgrid.reindex(grid.index).to_string().replace("\n", "\n      "))
            say(f"      Largest |error| of the flow's quantile effects: {err.abs().max():.3f} SD({a.outcome}).")
    say("")

    disc = a.treatment in a.fit.encoding.discrete
    x25 = float(np.quantile(a.data[a.treatment], 0.25, method="inverted_cdf" if disc else "linear"))
    meds = list(mobility_mediators)
    mob = a.fit.mobility_table(a.treatment, a.outcome, bins=bins, mediators=meds, a_ref=x25, seed=seed)
    lin_mob = a.sem.mobility_table(a.treatment, a.outcome, bins=bins, mediators=meds, a_ref=x25, seed=seed)
    say("      " + mob.summary().replace("\n", "\n      "))
    with pd.option_context("display.float_format", "{:.3f}".format):
        say("      Linear SEM (simulated), indices: " + "; ".join(
            f"{k} {v['observed']:.3f} -> {v['counterfactual']:.3f}" for k, v in lin_mob.indices.iterrows()))
    mobility_tables = [mob.to_frame(), lin_mob.to_frame()]
    indices = [mob.indices.assign(method="flow"), lin_mob.indices.assign(method="linear SEM")]
    if truth_noise is not None:
        cf = oracle._mobility_truth(designs._SCMS["blau_duncan"], truth_noise, x25, "+".join(meds))
        true = _mobility(a.data[a.treatment].to_numpy(float), a.data[a.outcome].to_numpy(float), cf[None],
                         np.ones((1, len(cf))), bins, a.treatment, a.outcome, tuple(meds), x25, "truth", [], "")
        cells = np.abs(mob.counterfactual.to_numpy() - true.counterfactual.to_numpy())
        say(f"      Largest |error| of the flow's counterfactual cells: {cells.max():.3f} (truth: the data's "
            "model, these units).")
        mobility_tables.append(true.to_frame())
        indices.append(true.indices.assign(method="truth"))
    tables["mobility_tables"] = pd.concat(mobility_tables, ignore_index=True)
    tables["mobility_indices"] = pd.concat(indices).rename_axis("index").reset_index()
    ax = plot_quantile_effects(flow, linear, labels=[lbl for lbl in grid.index if not lbl.startswith("r")])
    ax.set_title(f"Quantile effects of {a.treatment} on {a.outcome}: flow (solid) vs linear SEM (dashed)",
                 fontsize=10)
    figures = {"quantile_effects": ax.figure, "mobility": mob.plot()[0].figure}
    return tables, figures
