"""The tidy effects table shared by the flow, the linear SEM, Python and R.

Every estimate medflow reports is one row of a DataFrame with the columns in
:data:`EFFECT_COLUMNS`. :class:`EffectsResult` wraps such a table in the
statsmodels way (``params``, ``bse``, ``conf_int()``, ``summary()``,
``to_frame()``) and :func:`compare` stacks several results of the same query in one long
table (:data:`COMPARISON_COLUMNS`).

Example:
    >>> import pandas as pd
    >>> from medflow.results import EffectsResult, effect_row
    >>> row = effect_row(estimand="TE", path="X -> Y", treatment="X", outcome="Y",
    ...                  a=1.0, a_ref=0.0, estimate=0.5, sd_outcome=2.0, method="linear")
    >>> res = EffectsResult(pd.DataFrame([row]))
    >>> float(res.params["TE"])
    0.5
    >>> float(res.to_frame()["estimate_sd"].iloc[0])
    0.25
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["EFFECT_COLUMNS", "COMPARISON_COLUMNS", "ESTIMANDS", "EffectsResult", "compare", "effect_row"]

#: Columns of the tidy effects table, in order.
EFFECT_COLUMNS: tuple[str, ...] = (
    "estimand", "label", "path", "treatment", "outcome", "mediators", "a", "a_ref",
    "estimate", "std_error", "ci_lower", "ci_upper", "level",
    "estimate_sd", "std_error_sd", "ci_lower_sd", "ci_upper_sd",
    "mc_error", "identified", "witness", "assumption", "method", "n_boot", "n", "quantile",
)

#: Estimand codes and their long names.
ESTIMANDS: dict[str, str] = {
    "TE": "total effect",
    "NDE": "natural direct effect",
    "NIE": "natural indirect effect",
    "PSE": "path-specific effect",
    "PART": "sequential decomposition part",
    "rNDE": "interventional direct effect",
    "rNIE": "interventional indirect effect",
    "MEAN": "mean potential outcome",
    "CDE": "controlled direct effect",
}

#: Monte Carlo errors below this share of SD(Y) are not shown by :meth:`EffectsResult.summary`.
MC_NEGLIGIBLE_SD = 0.001

#: The assumption a non-identified estimate rests on.
MONOTONE_ASSUMPTION = (
    "each structural equation is strictly increasing in one independent scalar noise "
    "(bijective generation mechanism); not identified from the observed distribution alone"
)


def effect_row(
    *,
    estimand: str,
    path: str,
    treatment: str,
    outcome: str,
    a: float,
    a_ref: float,
    estimate: float,
    sd_outcome: float,
    method: str,
    label: str | None = None,
    mediators: str = "",
    quantile: float = math.nan,
    std_error: float = math.nan,
    ci_lower: float = math.nan,
    ci_upper: float = math.nan,
    level: float = math.nan,
    mc_error: float = math.nan,
    identified: bool = True,
    witness: str = "",
    assumption: str = "",
    n_boot: int = 0,
    n: int = 0,
) -> dict:
    """One row of the tidy effects table; the SD(Y)-scaled columns are derived here.

    ``quantile`` is NaN for an effect on the mean and ``q`` for a difference of the
    ``q``-quantiles of two potential-outcome distributions (:mod:`medflow.distributional`).
    """
    if estimand not in ESTIMANDS:
        raise ValueError(f"Unknown estimand code {estimand!r}; known: {', '.join(ESTIMANDS)}.")
    if label is None:
        label = estimand if not mediators else f"{estimand} via {mediators}"
    row = dict(
        estimand=estimand, label=label, path=path, treatment=treatment, outcome=outcome,
        mediators=mediators, a=float(a), a_ref=float(a_ref), quantile=float(quantile),
        estimate=float(estimate),
        std_error=float(std_error), ci_lower=float(ci_lower), ci_upper=float(ci_upper),
        level=float(level), mc_error=float(mc_error), identified=bool(identified),
        witness=witness, assumption=assumption, method=method, n_boot=int(n_boot), n=int(n),
    )
    for col in ("estimate", "std_error", "ci_lower", "ci_upper"):
        row[f"{col}_sd"] = row[col] / sd_outcome
    return {c: row[c] for c in EFFECT_COLUMNS}


class EffectsResult:
    """Estimated causal effects, one row per estimand.

    Attributes:
        table: the tidy table (columns :data:`EFFECT_COLUMNS`), indexed by ``label``.
        notes: free-text lines printed under the summary (contrast, sample size, ...).
    """

    def __init__(self, table: pd.DataFrame, notes: Sequence[str] = (), draws: pd.DataFrame | None = None):
        if "quantile" not in table.columns:  # tables written before the column existed
            table = table.assign(quantile=math.nan)
        missing = [c for c in EFFECT_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"An effects table needs the columns {missing}.")
        self.table = table.loc[:, list(EFFECT_COLUMNS)].reset_index(drop=True)
        self.notes = list(notes)
        #: bootstrap replicates (rows) of each estimate (columns = labels), if any.
        self.draws = draws

    # statsmodels-style accessors ---------------------------------------------------
    @property
    def params(self) -> pd.Series:
        """Point estimates in the outcome's units, indexed by label."""
        return pd.Series(self.table["estimate"].to_numpy(), index=self.table["label"], name="estimate")

    @property
    def bse(self) -> pd.Series:
        """Standard errors (bootstrap or delta method), indexed by label."""
        return pd.Series(self.table["std_error"].to_numpy(), index=self.table["label"], name="std_error")

    def conf_int(self, level: float | None = None, scale: str = "raw",
                 method: str = "percentile") -> pd.DataFrame:
        """Confidence intervals, indexed by label.

        Args:
            level: recompute intervals at this level from the bootstrap draws (default: the
                level the result was computed at).
            scale: ``"raw"`` (outcome units) or ``"sd"`` (SD of the outcome).
            method: ``"percentile"`` (the draws' quantiles; what the table holds) or
                ``"basic"`` (the percentile interval reflected about the estimate,
                ``[2 est - q_hi, 2 est - q_lo]``), which moves the interval against a bias
                the refits show, e.g. when the draws sit mostly above the estimate. In the
                validation study (benchmarks/results/README.md) percentile intervals covered
                better at N = 2,000; compare both before relying on either.
        """
        _check_scale(scale)
        if method not in ("percentile", "basic"):
            raise ValueError(f"method must be 'percentile' or 'basic', got {method!r}.")
        sfx = "" if scale == "raw" else "_sd"
        if method == "percentile" and (level is None or (self.table["level"] == level).all()):
            out = self.table[[f"ci_lower{sfx}", f"ci_upper{sfx}"]].copy()
        else:
            if level is not None and not 0 < level < 1:
                raise ValueError(f"level must be between 0 and 1, got {level}.")
            if self.draws is None:
                raise ValueError("This result has no bootstrap draws; refit with n_boot > 0 to "
                                 "compute intervals at another level or by another method.")
            level = float(self.table["level"].iloc[0]) if level is None else level
            lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
            q = self.draws.quantile([lo, hi]).T.reindex(self.table["label"]).to_numpy()
            if method == "basic":
                est = self.table["estimate"].to_numpy()[:, None]
                q = 2 * est - q[:, ::-1]
            out = pd.DataFrame(q, columns=[f"ci_lower{sfx}", f"ci_upper{sfx}"])
            if scale == "sd":
                out = out.div(self._sd_outcome(), axis=0)
        out.columns = ["lower", "upper"]
        out.index = self.table["label"]
        return out

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy table."""
        return self.table.copy()

    def _sd_outcome(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.table["estimate"] / self.table["estimate_sd"]).to_numpy()

    # display -----------------------------------------------------------------------
    def mc_relevant(self) -> pd.Series:
        """Whether each estimate's Monte Carlo error is not negligible, indexed by label.

        Negligible: below :data:`MC_NEGLIGIBLE_SD` SD(Y), or below a tenth of the standard
        error where there is one. The Monte Carlo error (``mc_error``) is the spread of the
        estimate over the random draws it rests on (fresh mediator draws, noise of discrete
        nodes, ``n_mc`` units) for the given fit and units: another seed moves the estimate
        by about this much.
        """
        t = self.table
        mc = t["mc_error"].to_numpy(dtype=float)
        sd = np.abs(self._sd_outcome())
        se = np.nan_to_num(t["std_error"].to_numpy(dtype=float), nan=0.0)
        with np.errstate(invalid="ignore"):
            out = np.isfinite(mc) & (mc >= MC_NEGLIGIBLE_SD * sd) & (mc >= 0.1 * se)
        return pd.Series(out, index=t["label"].to_numpy(), name="mc_relevant")

    def summary(self, scale: str = "raw") -> str:
        """A printable table: label, estimate, std. error, interval, identified, and the
        Monte Carlo error where it is not negligible (:meth:`mc_relevant`)."""
        _check_scale(scale)
        sfx = "" if scale == "raw" else "_sd"
        t = self.table
        lvl = t["level"].dropna()
        ci = f"{lvl.iloc[0]:.0%} CI" if len(lvl) else "CI"
        out = pd.DataFrame({
            "estimate": t[f"estimate{sfx}"].to_numpy(),
            "std.err": t[f"std_error{sfx}"].to_numpy(),
            f"{ci} lower": t[f"ci_lower{sfx}"].to_numpy(),
            f"{ci} upper": t[f"ci_upper{sfx}"].to_numpy(),
            "identified": np.where(t["identified"], "yes", "no*"),
        }, index=t["label"].to_numpy())
        relevant = self.mc_relevant().to_numpy()
        if relevant.any():
            mc = t["mc_error"].to_numpy(dtype=float)
            if scale != "raw":
                mc = mc / self._sd_outcome()
            out.insert(4, "MC err", np.where(relevant, mc, np.nan))
        first = t.iloc[0] if len(t) else None
        lines = []
        if first is not None:
            unit = "outcome units" if scale == "raw" else "SD of the outcome"
            lines.append(f"Effects of {first['treatment']} on {first['outcome']} "
                         f"({first['a']:g} vs {first['a_ref']:g}; {unit}), method: "
                         f"{', '.join(dict.fromkeys(t['method']))}")
        with pd.option_context("display.width", 120, "display.max_columns", 20,
                               "display.float_format", "{:.4f}".format):
            lines.append(out.to_string(na_rep="."))
        if (~t["identified"]).any():
            bad = t.loc[~t["identified"]]
            w = ", ".join(sorted({x for x in bad["witness"] if x}))
            assumptions = "; ".join(dict.fromkeys(a for a in bad["assumption"] if a))
            lines.append(f"* not identified from the observed distribution alone (recanting witness: "
                         f"{w}); the estimate rests on the assumption: {assumptions}.")
        if relevant.any():
            lines.append("MC err: Monte Carlo error of the estimate (from its random draws; another "
                         "seed moves it by about this much); . = negligible.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, ax=None, scale: str = "sd"):
        """Forest plot of the estimates with their intervals (matplotlib); returns the axes."""
        return forest_plot([self], ax=ax, scale=scale)


def forest_plot(results: Sequence[EffectsResult], ax=None, scale: str = "sd"):
    """Forest plot of one or several results (one marker per method)."""
    import matplotlib.pyplot as plt

    _check_scale(scale)
    sfx = "" if scale == "raw" else "_sd"
    frame = pd.concat([r.table for r in results], ignore_index=True)
    labels = list(dict.fromkeys(frame["label"]))
    methods = list(dict.fromkeys(frame["method"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.2))
    for k, m in enumerate(methods):
        sub = frame[frame["method"] == m]
        y = np.array([labels.index(lbl) for lbl in sub["label"]]) + (k - (len(methods) - 1) / 2) * 0.2
        est = sub[f"estimate{sfx}"].to_numpy()
        lo, hi = sub[f"ci_lower{sfx}"].to_numpy(), sub[f"ci_upper{sfx}"].to_numpy()
        point = ax.plot(est, y, "o", label=m)[0]
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():  # a percentile interval need not contain the point estimate: draw it as it is
            ax.hlines(y[ok], lo[ok], hi[ok], color=point.get_color(), lw=1.5)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("effect (SD of outcome)" if scale == "sd" else "effect (outcome units)")
    if len(methods) > 1:
        ax.legend()
    return ax


#: Columns of the comparison layout (:func:`compare`): one row per effect and result.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "label", "estimand", "name", "method", "estimate", "std_error", "ci_lower", "ci_upper",
    "estimate_sd", "std_error_sd", "ci_lower_sd", "ci_upper_sd", "level", "identified", "witness",
)

#: What every compared result must share (:func:`compare` refuses results that differ).
_QUERY = ("treatment", "outcome", "a", "a_ref")


def compare(*results: EffectsResult, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Several results of the same query in one long table: one row per effect and result.

    The layout (:data:`COMPARISON_COLUMNS`) is the one the command line writes to
    ``comparison.csv`` and R's ``compare()`` returns: ``label``, ``estimand``, ``name`` (of
    the result), ``method``, the estimate, standard error and interval in outcome units and
    in SD(Y) units (``*_sd``), ``level``, ``identified`` and ``witness``. Rows are ordered by
    label (in order of first appearance), then by result. Pivot it for a side-by-side view,
    e.g. ``compare(flow, sem).pivot(index="label", columns="name", values="estimate_sd")``.

    Args:
        results: :class:`EffectsResult` objects of the same treatment, outcome and contrast.
        names: one distinct name per result (default: each result's method).

    Raises:
        ValueError: when the results differ in treatment, outcome, ``a`` or ``a_ref`` (the
            message names them), or the names are not one distinct name per result.

    Example:
        >>> import pandas as pd
        >>> rows = [effect_row(estimand="TE", path="X -> Y", treatment="X", outcome="Y", a=1.0,
        ...                    a_ref=0.0, estimate=v, sd_outcome=2.0, method=m) for v, m in
        ...         [(0.5, "flow"), (0.4, "linear SEM")]]
        >>> flow, sem = (EffectsResult(pd.DataFrame([r])) for r in rows)
        >>> compare(flow, sem)[["label", "name", "estimate", "estimate_sd"]]
          label        name  estimate  estimate_sd
        0    TE        flow       0.5         0.25
        1    TE  linear SEM       0.4         0.20
    """
    if not results:
        raise ValueError("compare() needs at least one result.")
    bad = [i for i, r in enumerate(results) if not isinstance(r, EffectsResult)]
    if bad:
        raise ValueError(f"compare() takes EffectsResult objects; argument {bad[0] + 1} is a "
                         f"{type(results[bad[0]]).__name__}.")
    names = list(names) if names is not None else [
        ", ".join(dict.fromkeys(r.table["method"])) for r in results]
    if len(names) != len(results) or len(set(names)) != len(names):
        raise ValueError("compare() needs one distinct name per result (pass names=[...]).")
    differ = []
    for col in _QUERY:
        seen = {name: list(dict.fromkeys(r.table[col])) for name, r in zip(names, results)}
        if not _same([v for vs in seen.values() for v in vs]):
            shown = "; ".join(f"{n}: {', '.join(f'{v:g}' if not isinstance(v, str) else v for v in vs)}"
                              for n, vs in seen.items())
            differ.append(f"{col} ({shown})")
    if differ:
        raise ValueError("compare() needs results of the same treatment, outcome and contrast; these "
                         f"differ: {'; '.join(differ)}.")
    parts = [r.table.assign(name=name) for name, r in zip(names, results)]
    frame = pd.concat(parts, ignore_index=True)
    order = {lbl: k for k, lbl in enumerate(dict.fromkeys(frame["label"]))}
    rank = {n: k for k, n in enumerate(names)}
    frame = frame.assign(_l=frame["label"].map(order), _n=frame["name"].map(rank))
    frame = frame.sort_values(["_l", "_n"], kind="stable")
    return frame.loc[:, list(COMPARISON_COLUMNS)].reset_index(drop=True)


def _same(values: list) -> bool:
    """All equal: names exactly, numbers to nine significant digits."""
    if not values:
        return True
    if any(isinstance(v, str) for v in values):
        return len({str(v) for v in values}) == 1
    return bool(np.allclose(np.asarray(values, dtype=float), float(values[0]), rtol=1e-9, atol=0.0))


def _check_scale(scale) -> None:
    if scale not in ("raw", "sd"):
        raise ValueError(f"scale must be 'raw' (outcome units) or 'sd' (SD of the outcome), "
                         f"got {scale!r}.")
