"""The linear structural equation model beside the flow: classical path analysis.

:class:`LinearSEM` fits every structural equation of a recursive model by
ordinary least squares — from raw data with statsmodels, or from a covariance
or correlation matrix and N through the normal equations — and returns a
:class:`LinearSEMResults` with the path coefficients (unstandardized and
standardized), their standard errors, R² and residual paths per equation, a
path-analysis ``summary()`` and a lavaan-like ``params`` table. Causal effects
are traced along the directed paths of the graph: an effect along a set of
paths is (a − a*) times the sum over those paths of the products of their
coefficients. The rows use the tidy schema of :mod:`medflow.results`, so they
stack with the flow's. ``decomposition_table()`` gives the classical
Alwin–Hauser decomposition of an association.

The model is the same DAG the flow uses (:func:`medflow.dag.as_dag`). With
mutually independent disturbances the likelihood factorizes over the
equations, so OLS equation by equation is the maximum-likelihood fit and the
coefficients of different equations are uncorrelated (block-diagonal
covariance). Correlated roots (``V ~~ X``) keep their sample covariance.

Example (Blau & Duncan 1967, p. 169):
    >>> import pandas as pd
    >>> from medflow.linear import LinearSEM
    >>> names = ["V", "X", "U", "W", "Y"]
    >>> r = pd.DataFrame([[1, .516, .453, .332, .322],
    ...                   [.516, 1, .438, .417, .405],
    ...                   [.453, .438, 1, .538, .596],
    ...                   [.332, .417, .538, 1, .541],
    ...                   [.322, .405, .596, .541, 1]], index=names, columns=names)
    >>> model = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
    >>> sem = LinearSEM.from_moments(model, r, n=20700).fit()
    >>> sem.residual_paths.round(3).to_dict()
    {'U': 0.859, 'W': 0.818, 'Y': 0.753}
    >>> sem.effects("X", "Y", mediators=["W"], interventional=False).params.round(3).to_dict()
    {'TE': 0.322, 'NDE via W': 0.225, 'NIE via W': 0.097}

References:
    Duncan (1966). Path analysis: sociological examples. AJS 72, 1–16.
    Alwin & Hauser (1975). The decomposition of effects in path analysis. ASR 40, 37–47.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import statsmodels.api as sm
from scipy import stats

from medflow import estimands
from medflow.dag import DAG, as_dag, format_path, require_equation
from medflow.data import check_extremes, check_unique_columns, drop_missing
from medflow.estimands import LEVEL, Estimand
from medflow.identification import check
from medflow.ols import slopes_from_cov as _slopes
from medflow.results import EffectsResult, effect_row

__all__ = ["LinearSEM", "LinearSEMResults", "LINEAR_ASSUMPTION"]

Path = tuple[str, ...]
Edge = tuple[str, str]
METHOD = "linear SEM"

#: What a linear estimate of a nonparametrically non-identified effect rests on.
LINEAR_ASSUMPTION = (
    "linear structural equations without interactions (the effect is a sum of products of "
    "path coefficients); not identified from the observed distribution alone"
)


# ====================================================================== model
class LinearSEM:
    """A recursive linear structural equation model, one OLS regression per endogenous node.

    Args:
        model: lavaan-style syntax (``"U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"``), an edge
            list, an adjacency DataFrame or a :class:`~medflow.dag.DAG`.
        data: one row per unit with a numeric column for every model variable (others ignored).
        missing: ``"error"`` (default) or ``"drop"`` rows with a missing model variable (with a
            warning giving the number dropped), as for :class:`~medflow.model.CausalFlow`.

    Raises:
        ValueError: for absent, non-numeric, incomplete or constant columns, a singular
            covariance matrix, or too few rows for the largest equation.
    """

    def __init__(self, model, data: pd.DataFrame, *, missing: str = "error"):
        self.dag: DAG = _checked_dag(model)
        names = list(self.dag.order)
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
        absent = [v for v in names if v not in data.columns]
        if absent:
            raise ValueError(f"The model variable(s) {', '.join(absent)} are not columns of the data "
                             f"(columns: {', '.join(map(str, data.columns))}).")
        check_unique_columns(data, names)
        if len(data) == 0:
            raise ValueError("The data have no rows.")
        frame = drop_missing(data.loc[:, names], missing, stacklevel=4)
        values = frame.to_numpy(dtype=float)
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            listing = ", ".join(f"{c}: {int(k)}" for c, k in zip(names, nonfinite.sum(axis=0)) if k)
            raise ValueError(f"The data have non-finite values ({listing}).")
        const = [c for c, s in zip(names, values.std(axis=0)) if not s > 0]
        if const:
            raise ValueError(f"The column(s) {', '.join(const)} are constant; a constant variable "
                             "cannot be a node of a path model.")
        self.data = pd.DataFrame(values, columns=names, index=frame.index)
        self.n = len(values)
        _check_n(self.dag, self.n)
        check_extremes(self.data, stacklevel=3)
        self.cov = self.data.cov()
        _check_matrix(self.cov, "The covariance matrix of the data")
        self.means: pd.Series | None = self.data.mean()
        self.source = "data"

    @classmethod
    def from_moments(cls, model, cov_or_corr: pd.DataFrame, n: int,
                     means: Mapping[str, float] | pd.Series | None = None) -> LinearSEM:
        """A model fitted from a covariance or correlation matrix and the sample size.

        The matrix is read as the unbiased sample covariance (divisor N − 1, as
        ``DataFrame.cov()`` gives); a matrix with a unit diagonal is a correlation matrix,
        i.e. the covariance of standardized data. The coefficients solve the normal equations
        and the standard errors are exactly those OLS would give on any data set with this
        sample covariance (and these means): s² (X'X)⁻¹ with s² = RSS / (N − k). For a
        correlation matrix they are the OLS standard errors of the standardized variables,
        which ignore the sampling error of the standard deviations. Without ``means`` the
        intercepts are not estimated (only slopes and effects are reported).

        Args:
            model: as for :class:`LinearSEM`.
            cov_or_corr: square DataFrame with the variable names as index and columns; extra
                variables are ignored.
            n: the number of observations the matrix was computed from.
            means: optional sample means of the model variables.
        """
        self = cls.__new__(cls)
        self.dag = _checked_dag(model)
        names = list(self.dag.order)
        if not isinstance(cov_or_corr, pd.DataFrame):
            raise TypeError("cov_or_corr must be a pandas DataFrame with the variable names as its "
                            f"index and columns; got {type(cov_or_corr).__name__}.")
        m = cov_or_corr
        if [str(x) for x in m.index] != [str(x) for x in m.columns]:
            raise ValueError("The matrix needs the same variable names, in the same order, as its "
                             "index and its columns.")
        absent = [v for v in names if v not in m.columns]
        if absent:
            raise ValueError(f"The matrix has no row and column for the model variable(s) "
                             f"{', '.join(absent)}; its variables are {', '.join(map(str, m.columns))}.")
        try:
            block = m.loc[names, names].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError("The matrix has non-numeric entries.") from None
        if not np.isfinite(block).all():
            raise ValueError("The matrix has missing or non-finite entries.")
        asym = np.abs(block - block.T) > 1e-8 * np.abs(block).max()
        if asym.any():
            i, j = np.argwhere(asym)[0]
            raise ValueError(f"The matrix is not symmetric: entry [{names[i]}, {names[j]}] is "
                             f"{block[i, j]:g} but [{names[j]}, {names[i]}] is {block[j, i]:g}.")
        if isinstance(n, bool) or not float(n).is_integer() or n < 1:
            raise ValueError(f"n must be a positive whole number of observations, got {n!r}.")
        self.n = int(n)
        _check_n(self.dag, self.n)
        self.cov = pd.DataFrame((block + block.T) / 2, index=names, columns=names)
        _check_matrix(self.cov, "The matrix")
        if means is None:
            self.means = None
        else:
            means = pd.Series(means, dtype=float)
            absent = [v for v in names if v not in means.index]
            if absent:
                raise ValueError(f"means lack the model variable(s) {', '.join(absent)}.")
            self.means = means[names]
        self.data = None
        self.source = "correlation matrix" if np.allclose(np.diag(block), 1.0, atol=1e-8) else \
            "covariance matrix"
        return self

    def fit(self, df_correction: bool = True) -> LinearSEMResults:
        """Fit every endogenous node's equation by OLS.

        Args:
            df_correction: estimate each residual variance by RSS / (N − k) (OLS, the default);
                with ``False`` by RSS / N, the maximum-likelihood estimate lavaan reports, so
                that standard errors match ``lavaan::sem(estimator = "ML")``.
        """
        equations = {}
        for child in self.dag.order:
            rhs = self.dag.parents[child]
            if not rhs:
                continue
            if self.data is not None:
                equations[child] = _ols_statsmodels(self.data, child, rhs, df_correction)
            else:
                equations[child] = _ols_moments(self.cov, self.n, child, rhs, self.means, df_correction)
        return LinearSEMResults(self, equations, df_correction)


@dataclass(frozen=True)
class _Equation:
    """One fitted structural equation; ``cov`` is over (intercept, slopes...)."""

    lhs: str
    rhs: tuple[str, ...]
    intercept: float
    slopes: np.ndarray
    cov: np.ndarray
    sigma2: float
    rsquared: float
    dof: int  # divisor of the residual variance: N − k (OLS) or N (ML)


def _ols_statsmodels(data: pd.DataFrame, lhs: str, rhs: Sequence[str], df_correction: bool) -> _Equation:
    """OLS of ``lhs`` on ``rhs``, solved on centred and scaled variables and mapped back.

    Centring and scaling make the solution invariant to offsets and units (a column in
    cents beside a 0/1 column, or a constant 3e7 added to every value, is no harder than
    the same data in dollars); the map back to the data's units is exact and linear, so
    the coefficient covariance is transformed with it.
    """
    cols = [lhs, *rhs]
    values = data.loc[:, cols].to_numpy(dtype=float)
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    z = (values - mean) / sd
    res = sm.OLS(z[:, 0], sm.add_constant(z[:, 1:], has_constant="add")).fit()
    # (intercept, slopes) in data units = T @ (intercept, slopes) in standard units + c
    k = len(rhs)
    T = np.zeros((k + 1, k + 1))
    T[0, 0] = sd[0]
    T[0, 1:] = -sd[0] * mean[1:] / sd[1:]
    T[1:, 1:] = np.diag(sd[0] / sd[1:])
    params = T @ np.asarray(res.params)
    params[0] += mean[0]
    scale = 1.0 if df_correction else res.df_resid / res.nobs
    cov = T @ np.asarray(res.cov_params()) @ T.T * scale
    return _Equation(lhs, tuple(rhs), float(params[0]), params[1:], cov,
                     float(res.scale * scale * sd[0] ** 2), float(res.rsquared),
                     int(res.df_resid if df_correction else res.nobs))


def _ols_moments(cov: pd.DataFrame, n: int, lhs: str, rhs: Sequence[str],
                 means: pd.Series | None, df_correction: bool) -> _Equation:
    names = list(cov.columns)
    s = cov.to_numpy()
    iy, ix = names.index(lhs), [names.index(r) for r in rhs]
    b = _slopes(s, iy, ix)
    rss = (n - 1) * (s[iy, iy] - s[ix, iy] @ b)
    k = len(rhs) + 1
    dof = n - k if df_correction else n
    sigma2 = rss / dof
    # (X_c' X_c)^{-1} for centred regressors, X_c' X_c = (N − 1) S_xx.
    sd_x = np.sqrt(np.diag(s)[ix])
    r_xx = s[np.ix_(ix, ix)] / np.outer(sd_x, sd_x)
    xtx_inv = (scipy.linalg.cho_solve(scipy.linalg.cho_factor(r_xx), np.eye(len(ix)))
               / np.outer(sd_x, sd_x) / (n - 1))
    full = np.full((k, k), np.nan)
    full[1:, 1:] = sigma2 * xtx_inv
    intercept = math.nan
    if means is not None:
        xbar = means[list(rhs)].to_numpy()
        intercept = float(means[lhs] - b @ xbar)
        full[0, 0] = sigma2 * (1.0 / n + xbar @ xtx_inv @ xbar)
        full[0, 1:] = full[1:, 0] = -sigma2 * (xtx_inv @ xbar)
    r2 = 1.0 - rss / ((n - 1) * s[iy, iy])
    return _Equation(lhs, tuple(rhs), intercept, b, full, float(sigma2), float(r2), int(dof))


# ====================================================================== results
class LinearSEMResults:
    """A fitted :class:`LinearSEM`: coefficients, fit statistics and path-traced effects.

    Attributes:
        dag: the causal graph.
        n: number of observations.
        source: ``"data"``, ``"covariance matrix"`` or ``"correlation matrix"``.
        equations: per endogenous node, the fitted equation (internal record).
    """

    def __init__(self, model: LinearSEM, equations: dict[str, _Equation], df_correction: bool):
        self.dag, self.n, self.source = model.dag, model.n, model.source
        self.df_correction = df_correction
        self.equations = equations
        self._model = model
        self._sd = pd.Series(np.sqrt(np.diag(model.cov.to_numpy())), index=model.cov.columns)
        self._edges: list[Edge] = [(p, c) for c, eq in equations.items() for p in eq.rhs]
        self._theta = {e: float(b) for c, eq in equations.items()
                       for e, b in zip(((p, c) for p in eq.rhs), eq.slopes)}
        self._theta_cov = scipy.linalg.block_diag(*(eq.cov[1:, 1:] for eq in equations.values()))

    # ---------------------------------------------------------------- coefficients
    @property
    def params(self) -> pd.DataFrame:
        """lavaan-like parameter table: lhs, op, rhs, est, se, z, pvalue, std_all.

        ``~`` rows are slopes, ``~1`` intercepts (when means are known), ``~~`` residual
        variances (``std_all`` = 1 − R², standard error √(2/d)·σ² with d the residual
        divisor), root variances and declared root covariances (``std_all`` = correlation;
        fixed at their sample values, so no standard error, as with lavaan's ``fixed.x``).
        p-values are two-sided from the standard normal.
        """
        rows = []
        sd = self._sd
        for c, eq in self.equations.items():
            se = np.sqrt(np.diag(eq.cov))
            for j, p in enumerate(eq.rhs):
                rows.append((c, "~", p, eq.slopes[j], se[j + 1], eq.slopes[j] * sd[p] / sd[c]))
            if not math.isnan(eq.intercept):
                rows.append((c, "~1", "", eq.intercept, se[0], eq.intercept / sd[c]))
            rows.append((c, "~~", c, eq.sigma2, eq.sigma2 * math.sqrt(2.0 / eq.dof), 1.0 - eq.rsquared))
        cov = self._model.cov
        for r in self.dag.roots:
            rows.append((r, "~~", r, cov.loc[r, r], math.nan, 1.0))
        for a, b in self.dag.correlated:
            rows.append((a, "~~", b, cov.loc[a, b], math.nan, cov.loc[a, b] / (sd[a] * sd[b])))
        out = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "est", "se", "std_all"])
        out["z"] = out["est"] / out["se"]
        out["pvalue"] = 2 * stats.norm.sf(np.abs(out["z"]))
        return out[["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]]

    @property
    def rsquared(self) -> pd.Series:
        """R² of each equation."""
        return pd.Series({c: eq.rsquared for c, eq in self.equations.items()}, name="rsquared")

    @property
    def residual_paths(self) -> pd.Series:
        """Residual path coefficients √(1 − R²) of each equation."""
        return np.sqrt(1.0 - self.rsquared).rename("residual_path")

    @property
    def root_correlations(self) -> pd.Series:
        """Sample correlation of each declared pair of correlated roots, indexed ``"V ~~ X"``."""
        cov, sd = self._model.cov, self._sd
        return pd.Series({f"{a} ~~ {b}": cov.loc[a, b] / (sd[a] * sd[b]) for a, b in self.dag.correlated},
                         name="correlation", dtype=float)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of all slopes (block-diagonal across equations), labelled ``"Y ~ U"``."""
        labels = [f"{c} ~ {p}" for p, c in self._edges]
        return pd.DataFrame(self._theta_cov, index=labels, columns=labels)

    def summary(self) -> str:
        """The coefficients laid out as a path-analysis table, one block per equation."""
        kind = "OLS, residual variance RSS/(N - k)" if self.df_correction else "ML, residual variance RSS/N"
        lines = [f"Linear structural equation model (path analysis): {self.source}, N = {self.n}",
                 f"Estimation: least squares equation by equation ({kind}); p-values from N(0, 1)."]
        par = self.params
        for c in self.equations:
            lines.append("")
            lines.append(f"Equation for {c}:  R-squared {self.rsquared[c]:.3f},  residual path "
                         f"{self.residual_paths[c]:.3f}")
            sub = par[(par["lhs"] == c) & par["op"].isin(["~", "~1"])]
            table = pd.DataFrame({
                "coef": sub["est"].to_numpy(), "std.err": sub["se"].to_numpy(),
                "z": sub["z"].to_numpy(), "P>|z|": sub["pvalue"].to_numpy(),
                "std.coef": sub["std_all"].to_numpy(),
            }, index=[r if op == "~" else "(intercept)" for r, op in zip(sub["rhs"], sub["op"])])
            with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120):
                lines.append(table.to_string())
        if self.dag.correlated:
            lines.append("")
            lines.append("Correlated roots: " + ", ".join(
                f"{k}  r = {v:.3f}" for k, v in self.root_correlations.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<LinearSEMResults: {len(self.equations)} equations, N = {self.n}, {self.source}>"

    # ---------------------------------------------------------------- effects
    def effects(self, treatment: str, outcome: str, mediators: Iterable[str | Sequence[str]] | None = None,
                a: float | None = None, a_ref: float | None = None, interventional: bool = True,
                se: str | None = None, n_boot: int = 0, level: float = LEVEL, seed: int = 0, *,
                where=None, by: str | None = None) -> EffectsResult:
        """Total, natural direct and indirect effects by path tracing.

        Rows: ``TE``; for each mediator (a name, or a tuple of names for a joint set)
        ``NDE via M`` (paths avoiding M) and ``NIE via M`` (paths through M), and with
        ``interventional=True`` ``rNDE via M`` / ``rNIE via M``, which in a linear SEM without
        interactions equal the natural effects but are identified without cross-world
        assumptions.

        Args:
            treatment, outcome: node names.
            mediators: default: every variable on a directed path from the treatment to the
                outcome, one at a time, in causal order. Joint sets are labelled in causal
                order (``"NIE via U+W"``).
            a, a_ref: active and reference treatment values. Defaults: from data
                :func:`medflow.estimands.default_contrast` (1 vs 0 for a 0/1 treatment, else
                the observed values nearest its 75th and 25th percentiles, as for the flow);
                from moments mean + 1 SD vs mean.
            interventional: add the rNDE/rNIE rows.
            se: ``"delta"`` (block-diagonal coefficient covariance, analytic gradient) or
                ``"bootstrap"`` (resampled rows, refitted; percentile intervals; data only).
                Default: ``"bootstrap"`` when ``n_boot > 0``, else ``"delta"``.
            n_boot: bootstrap replicates.
            level: confidence level of the intervals.
            seed: seed of the bootstrap's own random generator.
            where, by: the units to average over, as for the flow (:func:`medflow.effects.effects`):
                ``where="V >= 4"`` (a query or a boolean vector) or ``by="V"`` (one block of rows
                per value of a pre-treatment variable, labelled ``"TE | V=4"``). A linear SEM
                without interactions gives every unit the same effects, so they change the units
                counted (the ``n`` column), not the estimates; they are here so that the two
                methods take the same queries and tables line up. Data only.

        Unlike the flow's, ``a`` and ``a_ref`` may lie outside the treatment's observed range:
        a linear SEM's effects depend on ``a - a_ref`` only (``a=1, a_ref=0`` is the effect of
        one unit wherever the data lie).
        """
        self._paths(treatment, outcome)  # validates the names
        if not isinstance(interventional, (bool, np.bool_)):
            raise ValueError(f"interventional must be True or False, got {interventional!r}.")
        groups = estimands.mediator_sets(mediators, self.dag, treatment, outcome)
        specs = estimands.natural(self.dag, treatment, outcome, groups, interventional)
        notes = []
        if interventional and groups:
            notes.append("rNDE/rNIE equal NDE/NIE in a linear SEM without interactions (they are "
                         "identified without cross-world assumptions).")
        return self._report(specs, treatment, outcome, a, a_ref, se, n_boot, level, seed, notes,
                            where=where, by=by)

    def path_effects(self, treatment: str, outcome: str, paths: Iterable[str | Sequence[str]],
                     a: float | None = None, a_ref: float | None = None, se: str | None = None,
                     n_boot: int = 0, level: float = LEVEL, seed: int = 0, *, where=None,
                     by: str | None = None) -> EffectsResult:
        """The effect along a set of paths (``"PSE: X -> W -> Y; X -> U -> W -> Y"``).

        Args:
            paths: directed paths from the treatment to the outcome, each ``"X -> W -> Y"`` or a
                tuple of names. Other arguments as in :meth:`effects`.
        """
        self._paths(treatment, outcome)  # validates the names
        specs = estimands.path_specific(self.dag, treatment, outcome, paths)
        return self._report(specs, treatment, outcome, a, a_ref, se, n_boot, level, seed, [],
                            where=where, by=by)

    def decompose(self, treatment: str, outcome: str, order: Iterable[str | Sequence[str]],
                  a: float | None = None, a_ref: float | None = None, se: str | None = None,
                  n_boot: int = 0, level: float = LEVEL, seed: int = 0, *, where=None,
                  by: str | None = None) -> EffectsResult:
        """Sequential decomposition of the total effect along an ordered list of mediators.

        Part k (``"PART via M_k"``) runs along the paths through M_k that avoid M_1..M_{k−1};
        ``"PART direct"`` along the paths through none of them. The parts add up to the
        ``TE`` row, which comes first.

        Args:
            order: mediator names, or tuples of names for groups. Other arguments as in
                :meth:`effects`.
        """
        self._paths(treatment, outcome)  # validates the names
        specs = estimands.sequential(self.dag, treatment, outcome, order)
        return self._report(specs, treatment, outcome, a, a_ref, se, n_boot, level, seed, [],
                            where=where, by=by)

    def cde(self, treatment: str, outcome: str, m: Mapping[str, float], a: float | None = None,
            a_ref: float | None = None, se: str | None = None, n_boot: int = 0, level: float = LEVEL,
            seed: int = 0, *, where=None, by: str | None = None) -> EffectsResult:
        """Controlled direct effect ``E[Y(a, m) - Y(a_ref, m)]`` with the mediators ``m`` held fixed.

        In a linear SEM without interactions holding the mediators cuts every path through
        them, so the effect is ``(a - a_ref)`` times the sum over the paths that avoid them of
        the products of their coefficients, whatever the held values (they only label the
        row). Identified without cross-world assumptions
        (:func:`medflow.identification.check_controlled`).

        Args:
            m: the held mediators and their values, e.g. ``{"W": 30}``. Other arguments as in
                :meth:`effects`.

        Example:
            >>> import pandas as pd
            >>> names = ["V", "X", "U", "W", "Y"]
            >>> r = pd.DataFrame([[1, .516, .453, .332, .322], [.516, 1, .438, .417, .405],
            ...                   [.453, .438, 1, .538, .596], [.332, .417, .538, 1, .541],
            ...                   [.322, .405, .596, .541, 1]], index=names, columns=names)
            >>> sem = LinearSEM.from_moments("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", r, n=20700).fit()
            >>> round(float(sem.cde("X", "Y", m={"W": 0.0}, a=1, a_ref=0).params["CDE at W=0"]), 3)
            0.225
        """
        self._paths(treatment, outcome)  # validates the names
        specs = estimands.controlled(self.dag, treatment, outcome, m)
        return self._report(specs, treatment, outcome, a, a_ref, se, n_boot, level, seed, [],
                            where=where, by=by)

    def distributional_effects(self, treatment: str, outcome: str, mediators=None, **kwargs) -> EffectsResult:
        """Quantile and threshold effects by simulation from the fitted Gaussian SEM; see
        :func:`medflow.distributional.linear_distributional_effects`."""
        from medflow.distributional import linear_distributional_effects
        return linear_distributional_effects(self, treatment, outcome, mediators=mediators, **kwargs)

    def mobility_table(self, origin: str, destination: str, bins: int = 5, mediators=None, a_ref=None,
                       **kwargs):
        """Mobility tables simulated from the fitted Gaussian SEM; see
        :func:`medflow.distributional.linear_mobility_table`."""
        from medflow.distributional import linear_mobility_table
        return linear_mobility_table(self, origin, destination, bins=bins, mediators=mediators,
                                     a_ref=a_ref, **kwargs)

    def decomposition_table(self, cause: str, effect: str, standardized: bool = True) -> pd.DataFrame:
        """The Alwin–Hauser (1975) decomposition of the association between two variables.

        Rows: ``total association`` (the correlation; unstandardized, the bivariate regression
        slope cov/var of the cause), ``total effect``, ``indirect via M`` for each intervening
        variable M in causal order, ``direct effect`` and ``non-causal`` (association minus
        total effect). These are the successive differences of the model's reduced-form
        coefficients of the cause as the intervening variables enter in causal order
        (``indirect via M`` = paths through M avoiding earlier intervening variables); in a
        just-identified model they equal those sample regressions.

        Returns:
            DataFrame indexed by component, columns ``estimate`` and ``paths``.
        """
        everything = self._paths(cause, effect)
        sd = self._sd
        theta = {e: b * sd[e[0]] / sd[e[1]] for e, b in self._theta.items()} if standardized else self._theta
        cov = self._model.cov
        assoc = cov.loc[cause, effect] / (sd[cause] * sd[effect] if standardized else sd[cause] ** 2)
        total = _trace(everything, theta)
        rows = [("total association", assoc, ""), ("total effect", total, _join(everything))]
        held: set[str] = set()
        intervening = [n for n in self.dag.order if any(n in p[1:-1] for p in everything)]
        for m in intervening:
            part = [p for p in everything if m in p[1:-1] and not held.intersection(p[1:-1])]
            rows.append((f"indirect via {m}", _trace(part, theta), _join(part)))
            held.add(m)
        direct = [p for p in everything if len(p) == 2]
        rows.append(("direct effect", _trace(direct, theta), _join(direct)))
        rows.append(("non-causal", assoc - total, ""))
        out = pd.DataFrame(rows, columns=["component", "estimate", "paths"]).set_index("component")
        return out

    # ---------------------------------------------------------------- internals
    def _paths(self, treatment: str, outcome: str) -> list[Path]:
        check(self.dag, treatment, outcome, [])  # validates the names, raises ValueError
        return self.dag.paths(treatment, outcome)

    def _contrast(self, treatment: str, a, a_ref) -> tuple[float, float, str]:
        """The contrast (:func:`medflow.estimands.contrast`): from data the default rule, from
        moments mean + 1 SD vs mean."""
        def default():
            if self._model.data is not None:
                return estimands.default_contrast(self._model.data[treatment].to_numpy())
            mean = None if self._model.means is None else float(self._model.means[treatment])
            return estimands.moments_contrast(mean, float(self._sd[treatment]))
        a, a_ref, how = estimands.contrast(a, a_ref, default)
        return a, a_ref, f"Contrast: {treatment} = {a:g} vs {a_ref:g} ({how})."

    def _report(self, specs: list[Estimand], treatment: str, outcome: str, a, a_ref, se, n_boot,
                level, seed, notes: list[str], where=None, by: str | None = None) -> EffectsResult:
        strata = self._strata(treatment, where, by)
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}.")
        if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
            raise ValueError(f"n_boot must be a non-negative whole number, got {n_boot!r}.")
        n_boot = int(n_boot)
        se = se if se is not None else ("bootstrap" if n_boot > 0 else "delta")
        if se not in ("delta", "bootstrap"):
            raise ValueError(f"se must be 'delta' or 'bootstrap', got {se!r}.")
        if se == "bootstrap" and n_boot < 2:
            raise ValueError("se='bootstrap' needs n_boot >= 2 replicates (e.g. n_boot=1000).")
        if se == "delta" and n_boot > 0:
            raise ValueError("se='delta' does not use n_boot; set n_boot=0 or se='bootstrap'.")
        if se == "bootstrap" and self._model.data is None:
            raise ValueError(f"The bootstrap resamples rows, but this model was fitted from a "
                             f"{self.source}; use se='delta'.")
        a, a_ref, contrast = self._contrast(treatment, a, a_ref)
        delta = a - a_ref
        est = np.array([delta * (_trace(s.active, self._theta) - _trace(s.reference, self._theta))
                        for s in specs])
        draws = None
        if se == "delta":
            grads = [delta * (self._grad(s.active) - self._grad(s.reference)) for s in specs]
            std = np.array([math.sqrt(max(g @ self._theta_cov @ g, 0.0)) for g in grads])
            z = stats.norm.ppf(0.5 + level / 2)
            lower, upper = est - z * std, est + z * std
            how = "delta method (block-diagonal OLS covariance of the coefficients)"
        else:
            boot = self._bootstrap(n_boot, seed)
            reps = np.array([[delta * (_trace(s.active, th) - _trace(s.reference, th)) for s in specs]
                             for th in boot])
            draws = pd.DataFrame(reps, columns=[s.label for s in specs])
            std = reps.std(axis=0, ddof=1)
            lower, upper = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=0)
            how = f"bootstrap ({n_boot} resamples of the rows, percentile intervals)"
        sd_y = float(self._sd[outcome])
        rows = []
        for k, s in enumerate(specs):
            rows.append(effect_row(
                estimand=s.code, label=s.label, mediators=s.mediators, path=s.path_text,
                treatment=treatment, outcome=outcome, a=a, a_ref=a_ref, estimate=est[k], sd_outcome=sd_y,
                method=METHOD, std_error=std[k], ci_lower=lower[k], ci_upper=upper[k], level=level,
                **estimands.identification_fields(s, LINEAR_ASSUMPTION),
                n_boot=n_boot if se == "bootstrap" else 0, n=self.n))
        notes = [contrast, f"Linear SEM fitted by OLS on N = {self.n} ({self.source}); effects are "
                 "path-traced sums of products of coefficients.", f"Standard errors: {how}."] + notes
        table = pd.DataFrame(rows)
        if strata is None:
            return EffectsResult(table, notes=notes, draws=draws)
        notes.append("Every unit has the same effects in a linear SEM without interactions: the "
                     "selected units change the count (n), not the estimates.")
        if by is not None:
            notes.append(f"Effects within strata of {by}.")
        tables, blocks = [], []
        for suffix, count in strata:
            t = table.assign(n=count)
            t["label"] = t["label"] + suffix
            tables.append(t)
            if draws is not None:
                blocks.append(draws.set_axis(list(t["label"]), axis=1))
        return EffectsResult(pd.concat(tables, ignore_index=True), notes=notes,
                             draws=pd.concat(blocks, axis=1) if blocks else None)

    def _strata(self, treatment: str, where, by) -> list[tuple[str, int]] | None:
        """``where=`` / ``by=`` checked as for the flow: ``(label suffix, units)`` per block of
        rows, or ``None`` when neither is given."""
        if where is None and by is None:
            return None
        from medflow.effects import _by_strata, _check_by, _where_mask

        frame = self._model.data
        if frame is None:
            raise ValueError(f"where= and by= select observed units, but this model was fitted "
                             f"from a {self.source}; fit it to the data to use them.")
        mask = None if where is None else _where_mask(frame, where)
        if by is None:
            return [("", int(mask.sum()))]
        _check_by(self, treatment, by, frame)
        return [(suffix, int(sel.sum())) for suffix, sel in _by_strata(frame, by, mask)]

    def _grad(self, paths: Iterable[Path]) -> np.ndarray:
        """Gradient of Σ_paths Π_edges b over the slope vector (analytic)."""
        g = np.zeros(len(self._edges))
        index = {e: i for i, e in enumerate(self._edges)}
        for p in paths:
            edges = list(zip(p, p[1:]))
            for i, e in enumerate(edges):
                g[index[e]] += math.prod(self._theta[f] for j, f in enumerate(edges) if j != i)
        return g

    def _bootstrap(self, n_boot: int, seed: int) -> list[dict[Edge, float]]:
        rng = np.random.default_rng(seed)
        values = self._model.data.to_numpy()
        names = list(self._model.data.columns)
        out = []
        for _ in range(n_boot):
            s = np.cov(values[rng.integers(0, self.n, self.n)], rowvar=False)
            theta = {}
            for c, eq in self.equations.items():
                b = _slopes(s, names.index(c), [names.index(p) for p in eq.rhs])
                theta.update({(p, c): float(v) for p, v in zip(eq.rhs, b)})
            out.append(theta)
        return out


# ====================================================================== helpers
def _trace(paths: Iterable[Path], theta: Mapping[Edge, float]) -> float:
    """Σ over paths of the product of the coefficients along each path."""
    return float(sum(math.prod(theta[e] for e in zip(p, p[1:])) for p in paths))


def _join(paths: Iterable[Path]) -> str:
    return "; ".join(map(format_path, paths))


def _checked_dag(model) -> DAG:
    return require_equation(as_dag(model))


def _check_n(dag: DAG, n: int) -> None:
    """Each equation needs more observations than coefficients (slopes + intercept)."""
    lhs = max((c for c in dag.order if dag.parents[c]), key=lambda c: len(dag.parents[c]))
    k = len(dag.parents[lhs]) + 1
    if n <= k:
        raise ValueError(f"N = {n} is too small for the model: the equation for {lhs} has {k} "
                         f"coefficients ({k - 1} slopes and an intercept), so N must be at least {k + 1}.")


def _check_matrix(cov: pd.DataFrame, what: str) -> None:
    """Raise unless the covariance matrix of the model variables is positive definite.

    The check is made on the correlation scale, so that variables in very different units
    (cents beside a 0/1 indicator) are not mistaken for a singular matrix.
    """
    c = cov.to_numpy()
    diag = np.diag(c)
    if not (diag > 0).all():
        bad = [str(n) for n, v in zip(cov.columns, diag) if not v > 0]
        raise ValueError(f"{what} has a zero or negative variance for {', '.join(bad)}.")
    eig = np.linalg.eigvalsh(c / np.sqrt(np.outer(diag, diag)))
    tol = 1e-10 * max(abs(eig).max(), 1e-300)
    if eig[0] < -tol:
        raise ValueError(f"{what} is not positive definite (smallest eigenvalue {eig[0]:.3g}); it "
                         "cannot be the covariance or correlation matrix of real data.")
    if eig[0] <= tol:
        raise ValueError(f"{what} is singular (smallest eigenvalue {eig[0]:.3g}): some model variable "
                         "is an exact linear combination of the others.")
