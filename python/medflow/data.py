"""Checking and encoding the analyst's data for a model.

:func:`prepare` validates a DataFrame against a :class:`~medflow.dag.DAG`
(numeric, finite, non-constant, uniquely named columns, enough rows, the
missing-value policy; a warning for extreme values), decides which variables
are discrete and fixes the affine standardization the flow works in.

A variable is discrete by default when it is *few-valued*, whatever its
coding:

* its values lie on an equally spaced grid ``origin + k * step`` (any origin
  and spacing, so 0/1, -0.5/0.5 and a z-scored binary variable are all
  discrete, and so are integer scores) with at most twice as many grid points
  as distinct observed values: inside the flow the grid points are the
  integers ``k``;
* or it has at most :data:`FEW_DISTINCT` distinct values that are not on such
  a grid ({0, 1, 3.71}, a z-scored binary variable plus one odd value, or
  {0, 1, 3.7}, whose grid of step 0.1 would be mostly empty): its sorted
  distinct values are mapped to *levels* ``0, 1, ..., K - 1`` inside the flow,
  an ordered categorical variable (the flow's monotone threshold model);
* or it lies on an equally spaced grid with at most :data:`FEW_LEVELS` points.

``discrete=`` also accepts any variable with at most :data:`FEW_LEVELS`
distinct values off a grid (levels). Everything public stays in the data's
units: queries name the data's values, counterfactual values are the data's
values and means are averages of the data's values. The rule depends on the
data only through affine-invariant properties, so the flow's effects are
invariant to affine recoding of any variable; with mapped levels they are even
invariant to any order-preserving recoding of a discrete mediator.
:class:`Encoding` is the result:
it maps between the data's original units and the flow's standardized scale,
and is stored with a saved model.

Example:
    >>> import numpy as np, pandas as pd
    >>> from medflow.dag import DAG
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"X": rng.integers(0, 2, 200), "Y": rng.normal(size=200)})
    >>> enc, clean = prepare(DAG.from_syntax("Y ~ X"), df)
    >>> enc.discrete
    ('X',)
    >>> clean.shape
    (200, 2)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from medflow.dag import DAG

__all__ = ["Encoding", "prepare", "finite_number", "check_extremes", "find_grid", "MIN_ROWS",
           "FEW_LEVELS", "FEW_DISTINCT", "EXTREME_IQR", "ExtremeValueWarning"]

#: Fewest rows a flow is fitted on.
MIN_ROWS = 50
#: Grid points up to which a variable on an equally spaced grid is discrete by default.
FEW_LEVELS = 100
#: Distance from the median, in interquartile ranges, beyond which values are called extreme.
EXTREME_IQR = 20.0
# Tolerance, in grid steps, for values on a grid (z-scored data are on it up to rounding).
_GRID_TOL = 1e-6


class ExtremeValueWarning(UserWarning):
    """Some values of a variable lie far outside the bulk of its distribution."""


#: Distinct values up to which a variable off an equally spaced grid (or on a grid with more
#: than twice as many points as values) is discrete by default, its values mapped to levels.
FEW_DISTINCT = 10


@dataclass(frozen=True)
class Encoding:
    """Variable order, types and the standardization used inside the flow.

    Attributes:
        variables: model variables in topological order.
        discrete: the discrete variables (dequantized in training).
        loc: per-variable centre (original units).
        scale: per-variable spread (original units).
        lower, upper: observed range of each variable (original units).
        step: grid spacing of each discrete variable (original units; 0 for continuous ones).
            A discrete variable takes the values ``lower + k * step``, ``k = 0, 1, ...``,
            unless it has mapped levels (then ``step`` is 1, one level).
        levels: for each variable whose values are mapped to levels, its sorted distinct
            values (original units); empty for every other variable. Inside the flow such a
            variable takes the values ``0, 1, ..., K - 1`` (``loc`` and ``scale`` are in
            those units); :meth:`standardize` and :meth:`destandardize` map between them.
    """

    variables: tuple[str, ...]
    discrete: tuple[str, ...]
    loc: tuple[float, ...]
    scale: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    step: tuple[float, ...] = ()
    levels: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self):
        if len(self.step) != len(self.variables):  # encodings saved before grids: integer steps
            object.__setattr__(self, "step", tuple(1.0 if v in self.discrete else 0.0
                                                   for v in self.variables))
        if len(self.levels) != len(self.variables):  # encodings saved before levels: none
            object.__setattr__(self, "levels", tuple(() for _ in self.variables))
        object.__setattr__(self, "levels", tuple(tuple(float(v) for v in lv) for lv in self.levels))

    def internal_grid(self, name_or_index: str | int) -> tuple[float, float, float]:
        """``(lowest, step, highest)`` of a discrete variable inside the flow (before
        standardization): its grid in the data's units, or ``(0, 1, K - 1)`` for mapped levels."""
        j = name_or_index if isinstance(name_or_index, int) else self.index(name_or_index)
        if self.levels[j]:
            return 0.0, 1.0, float(len(self.levels[j]) - 1)
        return self.lower[j], self.step[j], self.upper[j]

    def to_internal(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Original units → the flow's unstandardized units (levels → their positions ``k``).

        Values between two levels map linearly between their positions (the map is monotone
        and exact at the levels); every other variable is unchanged."""
        cols = list(columns or self.variables)
        out = np.array(values, dtype=float, copy=True)
        for i, c in enumerate(cols):
            lv = self.levels[self.index(c)]
            if lv:
                out[..., i] = np.interp(out[..., i], lv, np.arange(len(lv), dtype=float))
        return out

    def to_data(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """The inverse of :meth:`to_internal` (level positions → the data's values)."""
        cols = list(columns or self.variables)
        out = np.array(values, dtype=float, copy=True)
        for i, c in enumerate(cols):
            lv = self.levels[self.index(c)]
            if lv:
                out[..., i] = np.interp(out[..., i], np.arange(len(lv), dtype=float), lv)
        return out

    @property
    def is_discrete(self) -> np.ndarray:
        return np.array([v in self.discrete for v in self.variables])

    def index(self, name: str) -> int:
        return self.variables.index(name)

    def standardize(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Original units → flow scale (columns default to all variables)."""
        idx = [self.index(c) for c in (columns or self.variables)]
        values = self.to_internal(values, columns)
        return (values - np.asarray(self.loc)[idx]) / np.asarray(self.scale)[idx]

    def destandardize(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Flow scale → original units."""
        idx = [self.index(c) for c in (columns or self.variables)]
        return self.to_data(values * np.asarray(self.scale)[idx] + np.asarray(self.loc)[idx], columns)

    def off_grid(self, values: np.ndarray, columns: Sequence[str] | None = None) -> list[str]:
        """The discrete variables among ``columns`` with a value off their grid."""
        cols = list(columns or self.variables)
        bad = []
        for c, col in zip(cols, np.asarray(values, dtype=float).reshape(-1, len(cols)).T):
            j = self.index(c)
            if self.levels[j]:
                if not np.all(np.abs(self.snap(col[:, None], [c])[:, 0] - col)
                              <= _GRID_TOL * _level_gap(self.levels[j])):
                    bad.append(c)
            elif self.step[j] > 0:
                k = (col - self.lower[j]) / self.step[j]
                if not np.all(np.abs(k - np.round(k)) <= _GRID_TOL):
                    bad.append(c)
        return bad

    def snap(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Round the discrete variables' values to their grids (continuous ones unchanged)."""
        cols = list(columns or self.variables)
        out = np.array(values, dtype=float, copy=True)
        for i, c in enumerate(cols):
            j = self.index(c)
            if self.levels[j]:
                lv = np.asarray(self.levels[j])
                pos = np.clip(np.searchsorted(lv, out[..., i]), 1, len(lv) - 1)
                left, right = lv[pos - 1], lv[pos]
                out[..., i] = np.where(out[..., i] - left <= right - out[..., i], left, right)
            elif self.step[j] > 0:
                k = np.round((out[..., i] - self.lower[j]) / self.step[j])
                out[..., i] = self.lower[j] + k * self.step[j]
        return out

    def grid_text(self, name: str) -> str:
        """``"whole numbers"``, ``"the grid -0.5 + k * 1"`` or ``"the values 0, 1, 3.71"``:
        the values a discrete variable takes."""
        j = self.index(name)
        if self.levels[j]:
            lv = self.levels[j]
            shown = ", ".join(f"{v:g}" for v in lv[:10]) + (", ..." if len(lv) > 10 else "")
            return f"the values {shown}"
        lo, h = self.lower[j], self.step[j]
        if h == 1.0 and float(lo).is_integer():
            return "whole numbers"
        return f"the grid {lo:g} + k * {h:g}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Encoding:
        return cls(**{k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
                      for k, v in d.items()})

    def check_frame(self, data: pd.DataFrame, columns: Iterable[str] | None = None,
                    what: str = "data") -> np.ndarray:
        """Validate new rows (for log_prob, abduct, counterfactual) and return them as floats."""
        cols = list(columns or self.variables)
        return _numeric_block(data, cols, what=what)


def prepare(
    dag: DAG,
    data: pd.DataFrame,
    discrete: Iterable[str] | None = None,
    continuous: Iterable[str] | None = None,
    missing: str = "error",
) -> tuple[Encoding, pd.DataFrame]:
    """Validate ``data`` for ``dag`` and choose the encoding.

    Args:
        dag: the causal graph; all its variables must be columns of ``data``.
        data: one row per unit; other columns are ignored.
        discrete: variables to treat as discrete (default: the few-valued columns; see the
            module docstring). Values on an equally spaced grid keep it; others (at most
            :data:`FEW_LEVELS` distinct values) are mapped to levels.
        continuous: variables to treat as continuous even if few-valued.
        missing: ``"error"`` (default) or ``"drop"`` rows with a missing model variable
            (with a warning giving the number of rows dropped).

    Returns:
        The encoding and the model columns as a float DataFrame in topological order.

    Raises:
        ValueError: for missing or duplicated columns, non-numeric columns, missing or
            non-finite values, constant columns, fewer than ``MIN_ROWS`` rows, an unknown
            variable in ``discrete`` / ``continuous`` or a ``discrete`` variable with more
            than :data:`FEW_LEVELS` distinct values off an equally spaced grid.

    Warns:
        ExtremeValueWarning: for values more than :data:`EXTREME_IQR` interquartile ranges
            from their variable's median (see :func:`check_extremes`).
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    names = list(dag.order)
    check_unique_columns(data, names)
    absent = [v for v in names if v not in data.columns]
    if absent:
        raise ValueError(f"The model variable(s) {', '.join(absent)} are not columns of the data "
                         f"(columns: {', '.join(map(str, data.columns))}).")
    frame = drop_missing(data.loc[:, names], missing, stacklevel=4)
    values = _numeric_block(frame, names, what="data")
    if len(values) < MIN_ROWS:
        raise ValueError(f"The data have {len(values)} complete rows; a flow needs at least {MIN_ROWS}.")
    sd = values.std(axis=0)
    const = [n for n, s in zip(names, sd) if not s > 0]
    if const:
        raise ValueError(f"The column(s) {', '.join(const)} are constant; a constant variable "
                         "cannot be a node of a causal model.")

    disc_given = set(_known(discrete, names, "discrete"))
    cont_given = set(_known(continuous, names, "continuous"))
    both = disc_given & cont_given
    if both:
        raise ValueError(f"{', '.join(sorted(both))} cannot be both discrete and continuous.")
    kinds = {n: ("continuous" if n in cont_given else
                 _kind(values[:, i], n, forced=n in disc_given)) for i, n in enumerate(names)}
    disc = tuple(n for n in names if kinds[n] != "continuous")
    continuous_cols = [n for n in names if n not in disc]
    check_extremes(frame.loc[:, continuous_cols])

    levels = tuple(tuple(map(float, np.unique(values[:, i]))) if kinds[n] == "levels" else ()
                   for i, n in enumerate(names))
    internal = values.copy()
    for i, lv in enumerate(levels):
        if lv:
            internal[:, i] = np.searchsorted(np.asarray(lv), values[:, i])
    # Discrete values are dequantized to [k, k + 1) grid steps: centre on the midpoints.
    step = np.array([1.0 if kinds[n] == "levels" else find_grid(values[:, i]) if n in disc else 0.0
                     for i, n in enumerate(names)], dtype=float)
    loc = internal.mean(axis=0) + 0.5 * step
    scale = np.sqrt(internal.std(axis=0)**2 + step**2 / 12.0)
    enc = Encoding(
        variables=tuple(names), discrete=disc,
        loc=tuple(map(float, loc)), scale=tuple(map(float, scale)),
        lower=tuple(map(float, values.min(axis=0))), upper=tuple(map(float, values.max(axis=0))),
        step=tuple(map(float, step)), levels=levels,
    )
    return enc, pd.DataFrame(values, columns=names, index=frame.index)


def find_grid(values: np.ndarray) -> float | None:
    """The spacing of the equally spaced grid ``min + k * step`` holding ``values``, or None.

    The step is the smallest gap between distinct values divided by the smallest whole
    number up to 10 that puts every value on the grid (up to floating-point rounding).

    Example:
        >>> find_grid(np.array([-0.5, 0.5, 0.5])), find_grid(np.array([0.0, 2.0, 3.0]))
        (1.0, 1.0)
        >>> find_grid(np.array([0.0, 1.0, 2.5001])) is None
        True
    """
    u = np.unique(np.asarray(values, dtype=float))
    if len(u) < 2:
        return None
    span = u[-1] - u[0]
    gap = np.diff(u).min()
    for k in range(1, 11):
        n_steps = round(span / (gap / k))
        step = span / n_steps  # the step that lands exactly on the largest value
        codes = (u - u[0]) / step
        if np.all(np.abs(codes - np.round(codes)) <= _GRID_TOL):
            return float(step)
    return None


def _kind(column: np.ndarray, name: str, forced: bool = False) -> str:
    """``"grid"``, ``"levels"`` or ``"continuous"`` for one column (see the module docstring).

    ``forced`` (the column is named in ``discrete=``): never continuous; a column off a grid
    with more than :data:`FEW_LEVELS` distinct values is refused.
    """
    distinct = len(np.unique(column))
    step = find_grid(column)
    points = None if step is None else round((column.max() - column.min()) / step) + 1
    if points is not None and points <= 2 * distinct:
        return "grid"                       # a (nearly) complete grid
    if distinct <= FEW_DISTINCT:
        return "levels"                     # few values, off a grid or on a mostly empty one
    if points is not None and (points <= FEW_LEVELS or forced):
        return "grid"
    if not forced:
        return "continuous"
    if distinct <= FEW_LEVELS:
        return "levels"
    raise ValueError(f"discrete= names {name}, which has {distinct} distinct values that do not "
                     f"lie on an equally spaced grid (such as 0, 1, 2 or -0.5, 0.5); at most "
                     f"{FEW_LEVELS} such values can be mapped to levels. Treat it as continuous, "
                     "or recode it into fewer categories.")


def _level_gap(levels: Sequence[float]) -> float:
    """The smallest distance between two levels (1 for a single level)."""
    return float(np.diff(levels).min()) if len(levels) > 1 else 1.0


def drop_missing(frame: pd.DataFrame, missing: str = "error", stacklevel: int = 3) -> pd.DataFrame:
    """The model columns ``frame`` after the missing-value policy shared by the flow and the
    linear SEM: ``"error"`` refuses missing values, naming the columns and counts; ``"drop"``
    drops incomplete rows with a warning that counts them. Also refuses non-numeric columns.

    Example:
        >>> drop_missing(pd.DataFrame({"X": [1.0, 2.0], "Y": [0.0, 1.0]})).shape
        (2, 2)
    """
    if missing not in ("error", "drop"):
        raise ValueError(f"missing must be 'error' or 'drop', got {missing!r}.")
    _check_numeric_dtypes(frame)
    counts = frame.isna().sum()
    if not counts.any():
        return frame
    listing = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
    if missing == "error":
        raise ValueError(f"The data have missing values ({listing}). Remove or impute them, or "
                         "pass missing='drop' to drop incomplete rows.")
    keep = ~frame.isna().any(axis=1)
    warnings.warn(f"Dropped {int((~keep).sum())} of {len(frame)} rows with missing values "
                  f"({listing}).", stacklevel=stacklevel)
    return frame.loc[keep]


def check_unique_columns(data: pd.DataFrame, names: Iterable[str], what: str = "data") -> None:
    """Raise if a model variable names more than one column of ``data``."""
    dup = [n for n in dict.fromkeys(names) if int((data.columns == n).sum()) > 1]
    if dup:
        raise ValueError(f"The {what} have more than one column named {', '.join(map(str, dup))}; "
                         "rename or drop the duplicates so that each model variable is one column.")


def check_extremes(frame: pd.DataFrame, limit: float = EXTREME_IQR, stacklevel: int = 4) -> list[str]:
    """Warn about values more than ``limit`` interquartile ranges from their column's median.

    Such values (coding errors such as 99999 for missing, or very heavy tails) dominate a
    least-squares fit and the flow's standardization. Columns with a zero interquartile
    range use their standard deviation instead. Returns the columns warned about.

    Example:
        >>> import warnings
        >>> df = pd.DataFrame({"Y": np.r_[np.linspace(-1, 1, 99), 1e6]})
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     check_extremes(df)
        ['Y']
    """
    flagged = []
    for name in frame.columns:
        col = frame[name].to_numpy(dtype=float)
        col = col[np.isfinite(col)]
        if len(col) < 4:
            continue
        med = float(np.median(col))
        q1, q3 = np.quantile(col, [0.25, 0.75])
        spread, unit = float(q3 - q1), "interquartile ranges"
        if not spread > 0:
            spread, unit = float(col.std()), "standard deviations"
        if not spread > 0:
            continue
        dist = np.abs(col - med) / spread
        far = dist > limit
        if far.any():
            flagged.append(str(name))
            warnings.warn(
                f"The variable {name} has {int(far.sum())} extreme value(s), up to "
                f"{float(dist.max()):.3g} {unit} from its median {med:.4g} (largest "
                f"|value| {float(np.abs(col[far]).max()):.4g}). The flow and the linear SEM are "
                "sensitive to such values: check them for coding errors (e.g. 99999 for missing) "
                "or transform the variable (e.g. log).",
                ExtremeValueWarning, stacklevel=stacklevel)
    return flagged


def finite_number(value, arg: str) -> float:
    """A finite float, or one ValueError naming the argument ``arg``.

    Example:
        >>> finite_number("2.5", "a")
        2.5
    """
    if isinstance(value, bool):
        raise ValueError(f"{arg} must be a number, got {value!r}.")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{arg} must be a number, got {value!r}.") from None
    if not np.isfinite(out):
        raise ValueError(f"{arg} must be a finite number, got {out:g}.")
    return out


def _known(names: Iterable[str] | None, variables: list[str], arg: str) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in variables]
    if unknown:
        raise ValueError(f"{arg}= names {', '.join(unknown)}, which are not model variables.")
    return names


def _check_numeric_dtypes(frame: pd.DataFrame) -> None:
    bad = [c for c in frame.columns
           if not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))]
    if bad:
        kinds = ", ".join(f"{c} ({frame[c].dtype})" for c in bad)
        raise ValueError(f"Model variables must be numeric; not numeric: {kinds}. Recode categories "
                         "as integers (e.g. 0/1) before fitting.")


def _numeric_block(frame: pd.DataFrame, cols: list[str], what: str) -> np.ndarray:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"The {what} must be a pandas DataFrame, got {type(frame).__name__}.")
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise ValueError(f"The {what} lack the model variable(s) {', '.join(absent)}.")
    check_unique_columns(frame, cols, what)
    if len(frame) == 0:
        raise ValueError(f"The {what} have no rows.")
    sub = frame.loc[:, cols]
    _check_numeric_dtypes(sub)
    values = sub.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        listing = ", ".join(f"{c}: {int(n)}" for c, n in zip(cols, bad.sum(axis=0)) if n)
        kind = "missing or non-finite" if np.isnan(values).any() else "non-finite"
        raise ValueError(f"The {what} have {kind} values ({listing}).")
    return values
