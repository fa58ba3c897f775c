"""Distributional effects and counterfactual mobility tables.

A flow gives each unit's whole set of counterfactual outcomes, so effects need not stop at
means. :func:`distributional_effects` contrasts quantiles of potential-outcome
distributions,

    TE_q  = Q_q(Y(a)) - Q_q(Y(a_ref)),
    NDE_q = Q_q(Y(a, M(a_ref))) - Q_q(Y(a_ref)),
    NIE_q = Q_q(Y(a)) - Q_q(Y(a, M(a_ref))),

(and rNDE_q / rNIE_q from the randomized interventional worlds), and exceedance
probabilities ``P(Y(.) > c)`` at thresholds ``c``. These are differences of quantiles,
not quantiles of unit-level differences: they compare where the ``q``-th person of one
world stands with where the ``q``-th person of the other world stands. The worlds are
those of :mod:`medflow.effects` (the same units, noise and identification labels); an
ensemble's quantiles are those of the pooled member draws (a mixture).

:func:`mobility_table` cross-tabulates origin and destination in quantile bins:
``P(destination bin | origin bin)`` in the data and, with ``mediators`` and ``a_ref``,
in the counterfactual world where each unit's mediators take the values they would
have had with origin = ``a_ref`` while everything else responds to the unit's own
origin and noise. Beside the tables it reports immobility (the share staying in its
origin bin), the Shorrocks index ``(k - trace P) / (k - 1)`` and Spearman's rank
correlation of origin and destination.

The linear SEM has the same two methods (by simulation from the fitted Gaussian SEM;
:meth:`medflow.LinearSEMResults.distributional_effects`), so :func:`medflow.compare`
puts both side by side. In a linear SEM without interactions every potential outcome is
a shift of every other, so its quantile effects equal its mean effects.

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); m = x + rng.normal(size=400); y = m + x + rng.normal(size=400)
    >>> fit = mf.CausalFlow("M ~ X; Y ~ X + M", pd.DataFrame(dict(X=x, M=m, Y=y))).fit(epochs=3, verbose=False)
    >>> res = fit.distributional_effects("X", "Y", mediators=["M"], quantiles=[0.5], a=1.0, a_ref=0.0,
    ...                                  interventional=False)
    >>> list(res.params.index)
    ['TE', 'TE [q=0.5]', 'NDE via M', 'NDE via M [q=0.5]', 'NIE via M', 'NIE via M [q=0.5]']
    >>> tab = fit.mobility_table("X", "Y", bins=4)
    >>> tab.observed.shape, bool(np.allclose(tab.observed.sum(axis=1), 1.0))
    ((4, 4), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats

from medflow import estimands, identification
from medflow.effects import _check_query, _contrast, _Engine, _flows, _units, _where_mask, _world
from medflow.estimands import LEVEL, mediator_sets
from medflow.results import MONOTONE_ASSUMPTION, EffectsResult, effect_row

__all__ = ["DEFAULT_QUANTILES", "MobilityResult", "distributional_effects", "linear_distributional_effects",
           "linear_mobility_table", "mobility_table", "plot_quantile_effects", "weighted_quantile"]

#: The quantiles :func:`distributional_effects` reports by default.
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)


# ==================================================================== checks
def _check_quantiles(quantiles) -> tuple[float, ...]:
    if quantiles is None:
        return ()
    try:
        q = np.atleast_1d(np.asarray(quantiles, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"quantiles must be numbers strictly between 0 and 1, got {quantiles!r}.") from None
    if q.ndim != 1 or not np.all((q > 0) & (q < 1)):
        raise ValueError(f"quantiles must be numbers strictly between 0 and 1, got {quantiles!r}.")
    if len(np.unique(q)) != len(q):
        raise ValueError(f"quantiles has repeated values: {quantiles!r}.")
    return tuple(float(v) for v in q)


def _check_thresholds(threshold) -> tuple[float, ...]:
    if threshold is None:
        return ()
    try:
        c = np.atleast_1d(np.asarray(threshold, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be one or more finite numbers, got {threshold!r}.") from None
    if c.ndim != 1 or not len(c) or not np.isfinite(c).all():
        raise ValueError(f"threshold must be one or more finite numbers, got {threshold!r}.")
    if len(np.unique(c)) != len(c):
        raise ValueError(f"threshold has repeated values: {threshold!r}.")
    return tuple(float(v) for v in c)


def _check_level_boot(level, n_boot) -> int:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}.")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0 or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no bootstrap) or a whole number of at least 2, got {n_boot!r}.")
    return int(n_boot)


# ==================================================================== numerics
def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """Quantiles (inverse of the weighted empirical CDF) along the last axis: ``(..., len(q))``.

    The ``q``-quantile is the smallest value whose cumulative weight share reaches ``q``
    (numpy's ``method="inverted_cdf"``); with integer weights, the quantile of the sample
    in which each value appears that many times.

    Example:
        >>> weighted_quantile(np.array([[0.0, 1, 2, 3]]), np.array([[1.0, 1, 1, 1]]), [0.5, 0.9])
        array([[1., 3.]])
    """
    values, weights = np.asarray(values, dtype=float), np.asarray(weights, dtype=float)
    out = np.quantile(values, list(q), axis=-1, method="inverted_cdf", weights=weights)
    return np.moveaxis(out, 0, -1)


def _pooled(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An ensemble's draws ``(E, N)`` as one mixture sample ``(1, E N)``: every member has weight 1/E.

    Members whose weights have equal totals (the usual case) keep them as they are, so that
    integer weights give exactly the quantiles of the pooled sample (no rounding in the
    cumulative sums).
    """
    totals = weights.sum(-1, keepdims=True)
    w = weights if np.all(totals == totals[0]) else weights * (totals.max() / totals)
    return values.reshape(1, -1), w.reshape(1, -1)


def _mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return (values * weights).sum(-1) / weights.sum(-1)


def _mc_error(diff: np.ndarray, w: np.ndarray) -> float:
    """Standard error of a weighted mean of unit-level differences (member 0)."""
    est = _mean(diff, w)
    n_eff = float(w.sum() ** 2 / (w ** 2).sum())
    var = float(((diff - est) ** 2 * w).sum() / w.sum())
    return (var / n_eff) ** 0.5


# ==================================================================== world values
def _outcome_units(fit, j: int, values: torch.Tensor) -> np.ndarray:
    """Standardized flow values ``(E, N)`` -> outcome units (discrete nodes snapped to their
    grid or levels)."""
    name = fit.variables[j]
    out = fit.encoding.destandardize(values.double().numpy()[..., None], [name])
    return (fit.encoding.snap(out, [name]) if name in fit.encoding.discrete else out)[..., 0]


@dataclass
class _Stats:
    """Per world: member means ``(E,)``, quantiles ``(R, nq)`` and exceedances ``(E, nc)``.

    ``R`` is 1 for the point estimate (the pooled mixture) and ``E`` for bootstrap chunks.
    """

    mean: np.ndarray
    quantile: np.ndarray
    exceed: np.ndarray


def _world_stats(values: np.ndarray, weights: np.ndarray, quantiles, thresholds, pooled: bool) -> _Stats:
    qv, qw = _pooled(values, weights) if pooled else (values, weights)
    quant = weighted_quantile(qv, qw, quantiles) if quantiles else np.zeros((len(qv), 0))
    exceed = np.stack([_mean((values > c).astype(float), weights) for c in thresholds], -1) \
        if thresholds else np.zeros((len(values), 0))
    return _Stats(_mean(values, weights), quant, exceed)


def _contrasts(specs, stats_of: dict, pooled: bool) -> dict[tuple, np.ndarray]:
    """``(label, kind, k) -> (R,)`` values of every row from the per-world statistics."""
    out = {}
    for s in specs:
        hi, lo = stats_of[s.hi], stats_of[s.lo]
        mean = hi.mean - lo.mean
        exceed = hi.exceed - lo.exceed
        if pooled:  # the point estimate: average over members (mixture)
            mean, exceed = mean.mean(0, keepdims=True), exceed.mean(0, keepdims=True)
        out[(s.label, "mean", 0)] = mean
        for k in range(hi.quantile.shape[-1]):
            out[(s.label, "quantile", k)] = hi.quantile[:, k] - lo.quantile[:, k]
        for k in range(hi.exceed.shape[-1]):
            out[(s.label, "exceed", k)] = exceed[:, k]
    return out


def _rows(specs, point: dict, boot: np.ndarray | None, per: int, *, treatment, outcome, a, a_ref,
          quantiles, thresholds, sd_y, level, n_boot, n_units, mc: dict, method: str,
          assumption: str, means: bool) -> tuple[list[dict], dict]:
    rows, draws = [], {}
    for s in specs:
        kinds = ([("mean", 0)] if means else []) + [("quantile", k) for k in range(len(quantiles))] \
            + [("exceed", k) for k in range(len(thresholds))]
        for kind, k in kinds:
            key = (s.label, kind, k)
            if kind == "mean":
                label, q, scale = s.label, math.nan, sd_y
            elif kind == "quantile":
                label, q, scale = f"{s.label} [q={quantiles[k]:g}]", quantiles[k], sd_y
            else:
                label, q, scale = f"{s.label} [P({outcome} > {thresholds[k]:g})]", math.nan, 1.0
            est = float(point[key][0])
            se = lo = hi = math.nan
            if boot is not None:
                reps = estimands.replicate_means(boot[key], per)
                draws[label] = reps
                se, lo, hi = estimands.interval(reps, level)
            rows.append(effect_row(
                estimand=s.code, label=label, path=s.path_text, treatment=treatment, outcome=outcome,
                mediators=s.mediators, a=a, a_ref=a_ref, quantile=q, estimate=est, sd_outcome=scale,
                std_error=se, ci_lower=lo, ci_upper=hi, level=level if boot is not None else math.nan,
                mc_error=mc.get(key, math.nan), **estimands.identification_fields(s, assumption),
                method=method, n_boot=n_boot, n=n_units))
    return rows, draws


def _notes(treatment, outcome, a, a_ref, how, sd_y, quantiles, thresholds) -> list[str]:
    lines = [f"Contrast: {treatment} = {a:g} vs {a_ref:g} ({how}); SD({outcome}) = {sd_y:.4g}."]
    if quantiles:
        lines.append("[q=...] rows: differences of the q-quantiles of the two potential-outcome "
                     "distributions (not quantiles of unit-level effects); outcome units.")
    if thresholds:
        lines.append(f"[P({outcome} > c)] rows: differences of the probabilities of exceeding c "
                     "(probabilities are not SD-scaled: their *_sd columns repeat them).")
    return lines


# ==================================================================== flow: distributional effects
def distributional_effects(fit, treatment: str, outcome: str, mediators=None, *,
                           quantiles=DEFAULT_QUANTILES, threshold=None, means: bool = True,
                           interventional: bool = True, a=None, a_ref=None, n_boot: int = 0,
                           level: float = LEVEL, seed: int = 0, n_mc=None, data=None, where=None,
                           extrapolate: bool = False, verbose: bool = True,
                           boot_options=None) -> EffectsResult:
    """Quantile and threshold effects: total, natural and interventional, from a fitted flow.

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        treatment, outcome: variable names.
        mediators: as in :func:`medflow.effects.effects` (default: every variable on a path from
            the treatment to the outcome, one at a time).
        quantiles: quantile levels strictly between 0 and 1 (default 0.1, 0.25, 0.5, 0.75, 0.9);
            ``None`` or ``[]`` for none.
        threshold: one or more outcome values ``c``; adds ``P(Y(.) > c)`` contrasts.
        means: also report the mean effects (rows with ``quantile`` NaN).
        interventional: also report rNDE/rNIE.
        a, a_ref, n_boot, level, seed, n_mc, data, where, extrapolate, verbose, boot_options:
            as in :func:`medflow.effects.effects`.

    Returns:
        An :class:`~medflow.results.EffectsResult`; quantile rows are labelled ``"TE [q=0.5]"``
        and have the level in the ``quantile`` column; threshold rows ``"TE [P(Y > 40)]"``
        (differences of probabilities, which are not SD-scaled: their ``*_sd`` columns repeat
        them). Identification as for the means.
    """
    quantiles, thresholds = _check_quantiles(quantiles), _check_thresholds(threshold)
    if not (quantiles or thresholds or means):
        raise ValueError("Nothing to estimate: give quantiles=, threshold= or means=True.")
    n_boot = _check_level_boot(level, n_boot)
    _check_query(fit, treatment, outcome)
    dag = fit.dag
    groups = mediator_sets(mediators, dag, treatment, outcome)  # validates the names
    a, a_ref, how = _contrast(fit, treatment, a, a_ref, extrapolate)
    specs = estimands.natural(dag, treatment, outcome, groups, interventional)
    descs = list(dict.fromkeys(d for s in specs for d in (s.hi, s.lo)))

    gen = torch.Generator().manual_seed(int(seed))
    flows, per = _flows(fit, n_boot, seed, verbose, boot_options)
    point, boot_parts, mc = None, [], {}
    for k, (flow, weights) in enumerate(flows):
        units = _units(fit, flow, n_mc, data, where, gen, weights)
        w = units.weights.numpy()
        with torch.no_grad():
            engine = _Engine(fit, flow, units, treatment, outcome, a, a_ref, gen)
            values = {d: _outcome_units(fit, engine.Y, _world(engine, d)) for d in descs}
        # randomized worlds carry several mediator draws per unit, (J, E, N): each draw is a unit
        wts = {d: np.tile(w, (1, v.shape[0])) if v.ndim == 3 else w for d, v in values.items()}
        values = {d: v.transpose(1, 0, 2).reshape(v.shape[1], -1) if v.ndim == 3 else v
                  for d, v in values.items()}
        stats_of = {d: _world_stats(v, wts[d], quantiles, thresholds, pooled=k == 0)
                    for d, v in values.items()}
        part = _contrasts(specs, stats_of, pooled=k == 0)
        if k == 0:
            point = part
            for s in specs:
                diff = values[s.hi][0] - values[s.lo][0]
                mc[(s.label, "mean", 0)] = _mc_error(diff, wts[s.hi][0])
                for j, c in enumerate(thresholds):
                    ind = (values[s.hi][0] > c).astype(float) - (values[s.lo][0] > c).astype(float)
                    mc[(s.label, "exceed", j)] = _mc_error(ind, wts[s.hi][0])
        else:
            boot_parts.append(part)
    boot = {key: np.concatenate([p[key] for p in boot_parts]) for key in point} if n_boot else None
    sd_y = float(fit.data[outcome].std())
    if n_mc is not None:
        n_units = int(n_mc)
    else:
        frame = fit.data if data is None else data
        n_units = len(frame) if where is None else int(_where_mask(frame, where).sum())
    rows, draws = _rows(specs, point, boot, per, treatment=treatment, outcome=outcome, a=a,
                        a_ref=a_ref, quantiles=quantiles, thresholds=thresholds, sd_y=sd_y, level=level,
                        n_boot=n_boot, n_units=n_units, mc=mc, method="flow",
                        assumption=MONOTONE_ASSUMPTION, means=means)
    members = fit._require_fitted().E
    over = f"{n_mc} draws from the fitted model" if n_mc is not None else f"{n_units} observed units"
    notes = _notes(treatment, outcome, a, a_ref, how, sd_y, quantiles, thresholds)
    notes.append(f"Distributions over {over}" + (f", pooled over the {members} ensemble members"
                                                   if members > 1 else "") +
                 (f"; {n_boot} bootstrap refits, {level:.0%} percentile intervals of the "
                  "replicates as they are (medflow.estimands.replicate_means)." if n_boot
                  else "; no bootstrap (n_boot=0)."))
    return EffectsResult(pd.DataFrame(rows), notes=notes, draws=pd.DataFrame(draws) if n_boot else None)


# ==================================================================== mobility tables
def _bin_edges(values: np.ndarray, bins: int, name: str) -> np.ndarray:
    """The ``bins - 1`` inner cut points at the quantiles ``k / bins`` (observed values)."""
    cuts = np.quantile(values, np.arange(1, bins) / bins, method="inverted_cdf")
    if len(np.unique(cuts)) != len(cuts) or cuts[0] >= values.max():
        raise ValueError(f"{name} has too few distinct values for {bins} quantile bins (cut points "
                         f"{', '.join(f'{c:g}' for c in cuts)}); use fewer bins.")
    return cuts


def _assign(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index 0..k-1 of each value; bins are right-closed: ``(c_{k-1}, c_k]``."""
    return np.searchsorted(cuts, values, side="left")


def _bin_labels(cuts: np.ndarray) -> list[str]:
    k = len(cuts) + 1
    out = []
    for i in range(k):
        if i == 0:
            out.append(f"Q1 (<= {cuts[0]:.4g})")
        elif i == k - 1:
            out.append(f"Q{k} (> {cuts[-1]:.4g})")
        else:
            out.append(f"Q{i + 1} ({cuts[i - 1]:.4g}, {cuts[i]:.4g}]")
    return out


def _transition(origin_bin: np.ndarray, dest_bin: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Row-normalized ``k x k`` table averaged over members (``dest_bin``, ``weights``: ``(E, N)``)."""
    counts = np.zeros((k, k))
    for e in range(dest_bin.shape[0]):
        w = weights[e] / weights[e].sum()
        counts += np.bincount(origin_bin * k + dest_bin[e], weights=w, minlength=k * k).reshape(k, k)
    counts /= dest_bin.shape[0]
    return counts / counts.sum(axis=1, keepdims=True)


def _indices(table: np.ndarray, origin_share: np.ndarray, rank: float) -> dict[str, float]:
    k = len(table)
    return {"immobility": float(origin_share @ np.diag(table)),
            "shorrocks": float((k - np.trace(table)) / (k - 1)),
            "rank_correlation": float(rank)}


def _spearman(origin: np.ndarray, dest: np.ndarray) -> float:
    """Spearman's rank correlation, averaged over members (``dest``: ``(E, N)``)."""
    return float(np.mean([stats.spearmanr(origin, d).statistic for d in dest]))


@dataclass
class MobilityResult:
    """Observed and counterfactual mobility tables with their summary indices.

    Attributes:
        observed: ``P(destination bin | origin bin)`` in the data (rows: origin bins, columns:
            destination bins; rows sum to 1).
        counterfactual: the same table in the counterfactual world, or ``None``.
        indices: rows ``immobility`` (share of units in the same bin as their origin),
            ``shorrocks`` (``(k - trace) / (k - 1)``: 0 = no mobility, 1 = origin does not
            matter) and ``rank_correlation`` (Spearman's, origin vs destination); columns
            ``observed`` and, if any, ``counterfactual``.
        origin_cuts, destination_cuts: inner cut points (bins are right-closed).
        origin, destination: variable names; ``mediators``, ``a_ref``: the counterfactual.
        notes: lines printed under the summary.
    """

    observed: pd.DataFrame
    counterfactual: pd.DataFrame | None
    indices: pd.DataFrame
    origin_cuts: np.ndarray
    destination_cuts: np.ndarray
    origin: str
    destination: str
    mediators: tuple[str, ...] = ()
    a_ref: float | None = None
    method: str = "flow"
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``world, origin_bin, destination_bin, probability`` (plus the method)."""
        parts = []
        for world, tab in (("observed", self.observed), ("counterfactual", self.counterfactual)):
            if tab is None:
                continue
            long = tab.rename_axis(index="origin_bin", columns="destination_bin").stack()
            long = long.rename("probability").reset_index()
            long.insert(0, "world", world)
            parts.append(long)
        out = pd.concat(parts, ignore_index=True)
        out["method"] = self.method
        return out

    def summary(self) -> str:
        """Both tables (percent of each origin row) and the indices, as text."""
        lines = [f"Mobility from {self.origin} (rows) to {self.destination} (columns), "
                 f"{len(self.observed)} quantile bins; method: {self.method}"]
        fmt = {"display.width": 140, "display.max_columns": 20, "display.float_format": "{:.1f}".format}
        with pd.option_context(*[x for kv in fmt.items() for x in kv]):
            lines.append("Observed, % of each origin bin:")
            lines.append((100 * self.observed).to_string())
            if self.counterfactual is not None:
                lines.append(f"Counterfactual ({'+'.join(self.mediators)} at its value under "
                             f"{self.origin} = {self.a_ref:g}), % of each origin bin:")
                lines.append((100 * self.counterfactual).to_string())
        with pd.option_context("display.float_format", "{:.3f}".format):
            lines.append(self.indices.to_string())
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, axes=None, cmap: str = "Blues"):
        """Heatmaps of the observed (and counterfactual) tables, cells in percent; returns the axes."""
        import matplotlib.pyplot as plt

        tables = [("Observed", self.observed)]
        if self.counterfactual is not None:
            tables.append((f"Counterfactual: {'+'.join(self.mediators)} as under "
                           f"{self.origin} = {self.a_ref:g}", self.counterfactual))
        if axes is None:
            _, axes = plt.subplots(1, len(tables), figsize=(5.2 * len(tables), 4.6), squeeze=False)
            axes = axes[0]
        axes = np.atleast_1d(axes)
        k = len(self.observed)
        short = [f"Q{i + 1}" for i in range(k)]
        vmax = max(t.to_numpy().max() for _, t in tables)
        for ax, (title, tab) in zip(axes, tables):
            ax.imshow(100 * tab.to_numpy(), cmap=cmap, vmin=0, vmax=100 * vmax)
            for i in range(k):
                for j in range(k):
                    v = 100 * tab.iat[i, j]
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center",
                            color="white" if v > 60 * vmax else "black", fontsize=9)
            ax.set_xticks(range(k), short)
            ax.set_yticks(range(k), short)
            ax.set_xlabel(f"{self.destination} (destination bin)")
            ax.set_ylabel(f"{self.origin} (origin bin)")
            ax.set_title(title, fontsize=10)
        return axes


def _check_bins(bins) -> int:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be a whole number of at least 2, got {bins!r}.")
    return int(bins)


def _check_mobility_query(variables, origin, destination, mediators, a_ref):
    for name, role in ((origin, "origin"), (destination, "destination")):
        if name not in variables:
            raise ValueError(f"The {role} '{name}' is not a variable of the model; its variables are "
                             f"{', '.join(variables)}.")
    if origin == destination:
        raise ValueError("The origin and the destination must be different variables.")
    if (mediators is None) != (a_ref is None):
        raise ValueError("Give both mediators and a_ref for a counterfactual table, or neither "
                         "(for the observed table only).")


class _OwnOriginEngine(_Engine):
    """Path worlds in which the active treatment value is each unit's own (observed) value."""

    def __init__(self, fit, flow, units, treatment, outcome, a_ref, generator):
        super().__init__(fit, flow, units, treatment, outcome, a_ref, a_ref, generator)
        self.a = units.x[..., self.A]


def _own_origin_world(fit, flow, units, origin, destination, group, a_ref, gen) -> np.ndarray:
    """Destination ``(E, N)`` (outcome units) with the mediators in ``group`` at their value under
    ``origin = a_ref`` and every other path carrying the unit's own origin."""
    engine = _OwnOriginEngine(fit, flow, units, origin, destination, a_ref, gen)
    every = fit.dag.paths(origin, destination)
    through = identification.paths_through(fit.dag, origin, destination, group)
    avoid = [p for p in every if p not in through]
    with torch.no_grad():
        return _outcome_units(fit, engine.Y, engine.path_world(avoid))


def _mobility(origin_values, dest_values, cf_values, weights, bins, origin, destination, group, a_ref,
              method, notes, ident_note) -> MobilityResult:
    """Tables with the bins cut at the quantiles of ``origin_values`` and ``dest_values``."""
    o_cuts = _bin_edges(origin_values, bins, origin)
    d_cuts = _bin_edges(dest_values, bins, destination)
    return _tabulate(origin_values, dest_values, cf_values, weights, o_cuts, d_cuts, origin, destination,
                     group, a_ref, method, notes, ident_note)


def _tabulate(origin_values, dest_values, cf_values, weights, o_cuts, d_cuts, origin, destination, group,
              a_ref, method, notes, ident_note) -> MobilityResult:
    bins = len(o_cuts) + 1
    o_bin = _assign(origin_values, o_cuts)
    share = np.bincount(o_bin, minlength=bins) / len(o_bin)
    if not share.all():
        raise ValueError(f"An origin bin of {origin} holds no units; use fewer bins.")
    rows, cols = _bin_labels(o_cuts), _bin_labels(d_cuts)
    obs_tab = _transition(o_bin, _assign(dest_values, d_cuts)[None], np.ones((1, len(o_bin))), bins)
    observed = pd.DataFrame(obs_tab, index=pd.Index(rows, name=origin), columns=pd.Index(cols, name=destination))
    idx = {"observed": _indices(obs_tab, share, _spearman(origin_values, dest_values[None]))}
    counterfactual = None
    if cf_values is not None:
        cf_tab = _transition(o_bin, _assign(cf_values, d_cuts), weights, bins)
        counterfactual = pd.DataFrame(cf_tab, index=observed.index.copy(), columns=observed.columns.copy())
        idx["counterfactual"] = _indices(cf_tab, share, _spearman(origin_values, cf_values))
        notes = notes + [ident_note] if ident_note else notes
    return MobilityResult(observed, counterfactual, pd.DataFrame(idx), o_cuts, d_cuts, origin, destination,
                          tuple(group or ()), None if a_ref is None else float(a_ref), method, notes)


def mobility_table(fit, origin: str, destination: str, bins: int = 5, mediators=None, a_ref=None, *,
                   seed: int = 0, extrapolate: bool = False) -> MobilityResult:
    """Observed and counterfactual mobility tables in quantile bins.

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        origin, destination: variable names (e.g. father's and son's occupation).
        bins: number of quantile bins of each (origin bins at the quantiles of the origin,
            destination bins at those of the observed destination).
        mediators: one mediator set (``"U"`` or ``["U", "W"]``, a joint set) for the
            counterfactual table: each unit's mediators take the values they would have had
            with ``origin = a_ref``; every other path carries the unit's own origin, with the
            unit's own noise.
        a_ref: the reference origin for the mediators.
        seed: seeds the abduction of discrete nodes.
        extrapolate: allow ``a_ref`` outside the observed range of the origin.

    Returns:
        A :class:`MobilityResult` (``observed``, ``counterfactual``, ``indices``, ``summary()``,
        ``plot()``, ``to_frame()``). With an ensemble the counterfactual table averages the
        members' tables.
    """
    bins = _check_bins(bins)
    _check_mobility_query(fit.variables, origin, destination, mediators, a_ref)
    data = fit.data
    origin_values = data[origin].to_numpy(dtype=float)
    dest_values = data[destination].to_numpy(dtype=float)
    cf, weights, group, note = None, None, None, ""
    notes = [f"N = {len(data)} observed units; bins at the quantiles of the observed {origin} and "
             f"{destination} (right-closed)."]
    if mediators is not None:
        if destination not in fit.dag.descendants(origin):
            raise ValueError(f"{destination} is not a descendant of {origin} in the model: its "
                             "counterfactual table equals the observed one.")
        groups = mediator_sets([mediators] if isinstance(mediators, str) else [tuple(mediators)],
                               fit.dag, origin, destination)
        group = groups[0]
        a_ref = float(a_ref)
        j = fit.variables.index(origin)
        if not extrapolate and not fit.encoding.lower[j] <= a_ref <= fit.encoding.upper[j]:
            raise ValueError(f"a_ref = {a_ref:g} is outside the observed range of {origin} "
                             f"[{fit.encoding.lower[j]:g}, {fit.encoding.upper[j]:g}]; pass "
                             "extrapolate=True to allow it.")
        gen = torch.Generator().manual_seed(int(seed))
        flow = fit._require_fitted()
        units = _units(fit, flow, None, None, None, gen, None)
        cf = _own_origin_world(fit, flow, units, origin, destination, group, a_ref, gen)
        weights = units.weights.numpy()
        through = identification.paths_through(fit.dag, origin, destination, group)
        every = fit.dag.paths(origin, destination)
        ident = identification.check(fit.dag, origin, destination, [p for p in every if p not in through])
        if not ident.identified:
            note = (f"* The counterfactual table is not identified from the observed distribution alone "
                    f"(recanting witness: {', '.join(ident.witnesses)}); it rests on the assumption: "
                    f"{MONOTONE_ASSUMPTION}.")
        if flow.E > 1:
            notes.append(f"Counterfactual table: the average of the {flow.E} ensemble members' tables.")
    return _mobility(origin_values, dest_values, cf, weights, bins, origin, destination, group, a_ref,
                     "flow", notes, note)


# ==================================================================== linear SEM counterparts
class _LinearWorlds:
    """Counterfactual worlds of a fitted Gaussian linear SEM on ``n_sim`` simulated units.

    The same interface as :class:`medflow.effects._Engine` (``path_world``,
    ``randomized_world``), values in the outcome's units, shape ``(1, n_sim)``. Roots are
    drawn jointly normal with their sample means (0 without means) and variances and the
    declared covariances (``~~``); every other node is its OLS equation plus
    ``sigma * e`` with ``e ~ N(0, 1)``. ``a`` may be a per-unit array (own-origin worlds).
    """

    def __init__(self, res, treatment: str, outcome: str, a, a_ref: float, n_sim: int,
                 rng: np.random.Generator):
        self.res, self.dag = res, res.dag
        self.names = list(res.dag.order)
        self.treatment, self.outcome = treatment, outcome
        self.a, self.a_ref = a, float(a_ref)
        self.desc = set(res.dag.descendants(treatment))
        n = int(n_sim)
        cov, means = res._model.cov, res._model.means
        roots = [v for v in self.names if v not in res.equations]
        c = np.diag([cov.loc[r, r] for r in roots])
        for u, v in res.dag.correlated:
            i, j = roots.index(u), roots.index(v)
            c[i, j] = c[j, i] = cov.loc[u, v]
        mu = np.zeros(len(roots)) if means is None else means[roots].to_numpy(dtype=float)
        z = rng.standard_normal((n, len(roots)))
        draws = mu + z @ np.linalg.cholesky(c).T
        self.noise = {v: rng.standard_normal(n) for v in res.equations}
        self.fresh = {v: rng.standard_normal(n) for v in res.equations}
        self.x = {r: draws[:, k] for k, r in enumerate(roots)}
        for v in self.names:
            if v in res.equations:
                self.x[v] = self._equation(v, {p: self.x[p] for p in res.equations[v].rhs}, self.noise[v])
        self._memo: dict = {}

    def _equation(self, v: str, parents: dict, e: np.ndarray) -> np.ndarray:
        eq = self.res.equations[v]
        b0 = 0.0 if math.isnan(eq.intercept) else eq.intercept
        out = b0 + math.sqrt(eq.sigma2) * e
        for p, b in zip(eq.rhs, eq.slopes):
            out = out + b * parents[p]
        return out

    def path_world(self, paths) -> np.ndarray:
        return self._value(self.outcome, frozenset(tuple(p) for p in paths))[None]

    def _value(self, v: str, P: frozenset) -> np.ndarray:
        key = (v, P)
        if key not in self._memo:
            parents = {}
            for p in self.res.equations[v].rhs:
                if p == self.treatment:
                    parents[p] = self.a if (p, v) in P else self.a_ref
                elif p in self.desc:
                    parents[p] = self._value(p, frozenset(q[:-1] for q in P if q[-2] == p))
                else:
                    parents[p] = self.x[p]
            self._memo[key] = self._equation(v, parents, self.noise[v])
        return self._memo[key]

    def _generate(self, level: float, noise: dict, fixed: dict) -> dict:
        x = dict(self.x)
        x[self.treatment] = level
        for v in self.names:
            if v in self.desc:
                x[v] = fixed[v] if v in fixed else self._equation(
                    v, {p: x[p] for p in self.res.equations[v].rhs}, noise[v])
        return x

    def randomized_world(self, a_outcome: str, a_mediator: str, mediators) -> np.ndarray:
        level = {"a": self.a, "a_ref": self.a_ref}
        drawn = self._generate(level[a_mediator], self.fresh, {})
        out = self._generate(level[a_outcome], self.noise, {m: drawn[m] for m in mediators})
        return out[self.outcome][None]


def _check_n_sim(n_sim) -> int:
    if isinstance(n_sim, bool) or not isinstance(n_sim, (int, np.integer)) or n_sim < 100:
        raise ValueError(f"n_sim must be a whole number of at least 100, got {n_sim!r}.")
    return int(n_sim)


def linear_distributional_effects(res, treatment: str, outcome: str, mediators=None, *,
                                  quantiles=DEFAULT_QUANTILES, threshold=None, means: bool = True,
                                  interventional: bool = True, a=None, a_ref=None, n_sim: int = 200_000,
                                  seed: int = 0, n_boot: int = 0, level: float = LEVEL) -> EffectsResult:
    """:func:`distributional_effects` for a fitted linear SEM, by simulation from it.

    Every potential outcome is drawn from the fitted Gaussian SEM for ``n_sim`` simulated units
    with shared noise across worlds. Without interactions each world is a shift of every other,
    so the quantile effects equal the mean effects; threshold effects need the means (a SEM
    fitted from a correlation matrix without ``means`` locates every variable at 0). No
    intervals: ``n_boot`` must be 0 (it is there so that the flow's and the SEM's calls match).
    """
    from medflow.linear import LINEAR_ASSUMPTION, METHOD

    quantiles, thresholds = _check_quantiles(quantiles), _check_thresholds(threshold)
    if not (quantiles or thresholds or means):
        raise ValueError("Nothing to estimate: give quantiles=, threshold= or means=True.")
    n_sim = _check_n_sim(n_sim)
    if n_boot:
        raise ValueError("The linear SEM's distributional effects are simulated from the fitted model "
                         f"without intervals; use n_boot=0, got {n_boot!r}.")
    if thresholds and res._model.means is None:
        raise ValueError("threshold= needs the variables' means, and this linear SEM was fitted from "
                         "moments without means; pass means= to LinearSEM.from_moments().")
    dag = res.dag
    res._paths(treatment, outcome)  # validates the names
    groups = mediator_sets(mediators, dag, treatment, outcome)  # validates the names
    a, a_ref, contrast = res._contrast(treatment, a, a_ref)
    specs = estimands.natural(dag, treatment, outcome, groups, interventional)
    worlds = _LinearWorlds(res, treatment, outcome, a, a_ref, n_sim, np.random.default_rng(seed))
    descs = list(dict.fromkeys(d for s in specs for d in (s.hi, s.lo)))
    values = {d: _world(worlds, d) for d in descs}
    w = np.ones((1, n_sim))
    stats_of = {d: _world_stats(v, w, quantiles, thresholds, pooled=True) for d, v in values.items()}
    point = _contrasts(specs, stats_of, pooled=True)
    sd_y = float(res._sd[outcome])
    rows, _ = _rows(specs, point, None, None, treatment=treatment, outcome=outcome, a=a, a_ref=a_ref,
                    quantiles=quantiles, thresholds=thresholds, sd_y=sd_y, level=level, n_boot=0,
                    n_units=res.n, mc={}, method=METHOD, assumption=LINEAR_ASSUMPTION, means=means)
    notes = [contrast] + _notes(treatment, outcome, a, a_ref, "", sd_y, quantiles, thresholds)[1:]
    notes.append(f"Linear SEM ({res.source}, N = {res.n}): potential outcomes simulated for {n_sim} "
                 f"units from the fitted Gaussian SEM (seed {seed}); no intervals.")
    return EffectsResult(pd.DataFrame(rows), notes=notes)


def linear_mobility_table(res, origin: str, destination: str, bins: int = 5, mediators=None, a_ref=None, *,
                          n_sim: int = 200_000, seed: int = 0) -> MobilityResult:
    """:func:`mobility_table` for a fitted linear SEM, by simulation from the Gaussian SEM.

    Both tables come from ``n_sim`` simulated units: ``observed`` is the model's factual
    world, ``counterfactual`` the world with the mediators at their values under
    ``origin = a_ref``. The bins are cut at the quantiles of the data when the SEM was fitted
    on data (so the tables line up with the flow's), else at those of the simulated world.
    """
    bins, n_sim = _check_bins(bins), _check_n_sim(n_sim)
    _check_mobility_query(list(res.dag.order), origin, destination, mediators, a_ref)
    worlds = _LinearWorlds(res, origin, destination, None, 0.0 if a_ref is None else a_ref, n_sim,
                           np.random.default_rng(seed))
    sim_origin, sim_dest = worlds.x[origin], worlds.x[destination]
    cf, group, note = None, None, ""
    if mediators is not None:
        if destination not in res.dag.descendants(origin):
            raise ValueError(f"{destination} is not a descendant of {origin} in the model: its "
                             "counterfactual table equals the observed one.")
        group = mediator_sets([mediators] if isinstance(mediators, str) else [tuple(mediators)],
                              res.dag, origin, destination)[0]
        worlds.a = sim_origin
        every = res.dag.paths(origin, destination)
        through = identification.paths_through(res.dag, origin, destination, group)
        avoid = [p for p in every if p not in through]
        cf = worlds.path_world(avoid)
        ident = identification.check(res.dag, origin, destination, avoid)
        if not ident.identified:
            from medflow.linear import LINEAR_ASSUMPTION
            note = (f"* The counterfactual table is not identified from the observed distribution alone "
                    f"(recanting witness: {', '.join(ident.witnesses)}); it rests on the assumption: "
                    f"{LINEAR_ASSUMPTION}.")
    data = res._model.data
    where = "the data" if data is not None else "the simulated world"
    notes = [f"Linear SEM ({res.source}): both tables from {n_sim} units simulated from the fitted "
             f"Gaussian SEM (seed {seed}); 'observed' is the model's factual world; bins at the "
             f"quantiles of {where}."]
    ref_o = data[origin].to_numpy(float) if data is not None else sim_origin
    ref_d = data[destination].to_numpy(float) if data is not None else sim_dest
    o_cuts, d_cuts = _bin_edges(ref_o, bins, origin), _bin_edges(ref_d, bins, destination)
    return _tabulate(sim_origin, sim_dest, cf, np.ones((1, n_sim)), o_cuts, d_cuts, origin, destination,
                     group, a_ref, "linear SEM", notes, note)


# ==================================================================== plots
def plot_quantile_effects(*results: EffectsResult, labels: Sequence[str] | None = None, scale: str = "sd",
                          ax=None):
    """Quantile effects against the quantile level, one line per effect and result (matplotlib).

    Args:
        results: results of :func:`distributional_effects` (e.g. the flow's and the linear SEM's);
            the first is drawn with solid lines, the others dashed, dotted, ...
        labels: the effects to draw (default: every effect with quantile rows).
        scale: ``"sd"`` (SD of the outcome) or ``"raw"``.
        ax: matplotlib axes (default: a new figure).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    if scale not in ("raw", "sd"):
        raise ValueError(f"scale must be 'raw' or 'sd', got {scale!r}.")
    if not results:
        raise ValueError("plot_quantile_effects() needs at least one result.")
    sfx = "_sd" if scale == "sd" else ""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    styles = ["-", "--", ":", "-."]
    colors: dict[str, str] = {}
    for k, res in enumerate(results):
        t = res.table.dropna(subset=["quantile"])
        t = t.assign(effect=t["label"].str.replace(r" \[q=.*\]$", "", regex=True))
        method = ", ".join(dict.fromkeys(t["method"]))
        for effect in (labels or list(dict.fromkeys(t["effect"]))):
            sub = t[t["effect"] == effect].sort_values("quantile")
            if sub.empty:
                continue
            line = ax.plot(sub["quantile"], sub[f"estimate{sfx}"], styles[k % 4], marker="o", ms=3,
                           color=colors.get(effect), label=f"{effect} ({method})")[0]
            colors.setdefault(effect, line.get_color())
            lo, hi = sub[f"ci_lower{sfx}"].to_numpy(), sub[f"ci_upper{sfx}"].to_numpy()
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                ax.fill_between(sub["quantile"], lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("quantile q of the potential-outcome distributions")
    ax.set_ylabel("Q_q(active world) - Q_q(reference world)" + (" (SD of outcome)" if scale == "sd" else ""))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
