"""Checking and encoding the analyst's data for a model.

:func:`prepare` validates a DataFrame against a :class:`~medflow.dag.DAG`
(numeric, finite, non-constant columns, enough rows, the missing-value
policy), decides which variables are discrete (integer-valued) and fixes the
affine standardization the flow works in. :class:`Encoding` is the result:
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

__all__ = ["Encoding", "prepare", "MIN_ROWS"]

#: Fewest rows a flow is fitted on.
MIN_ROWS = 50


@dataclass(frozen=True)
class Encoding:
    """Variable order, types and the standardization used inside the flow.

    Attributes:
        variables: model variables in topological order.
        discrete: the integer-valued variables (dequantized in training).
        loc: per-variable centre (original units).
        scale: per-variable spread (original units).
        lower, upper: observed range of each variable (original units).
    """

    variables: tuple[str, ...]
    discrete: tuple[str, ...]
    loc: tuple[float, ...]
    scale: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def is_discrete(self) -> np.ndarray:
        return np.array([v in self.discrete for v in self.variables])

    def index(self, name: str) -> int:
        return self.variables.index(name)

    def standardize(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Original units → flow scale (columns default to all variables)."""
        idx = [self.index(c) for c in (columns or self.variables)]
        return (values - np.asarray(self.loc)[idx]) / np.asarray(self.scale)[idx]

    def destandardize(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Flow scale → original units."""
        idx = [self.index(c) for c in (columns or self.variables)]
        return values * np.asarray(self.scale)[idx] + np.asarray(self.loc)[idx]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Encoding:
        return cls(**{k: tuple(v) for k, v in d.items()})

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
        discrete: variables to treat as discrete (default: integer-valued columns).
        continuous: variables to treat as continuous even if integer-valued.
        missing: ``"error"`` (default) or ``"drop"`` rows with a missing model variable
            (with a warning giving the number of rows dropped).

    Returns:
        The encoding and the model columns as a float DataFrame in topological order.

    Raises:
        ValueError: for missing columns, non-numeric columns, missing or non-finite values,
            constant columns, fewer than ``MIN_ROWS`` rows or an unknown variable in
            ``discrete`` / ``continuous``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    names = list(dag.order)
    absent = [v for v in names if v not in data.columns]
    if absent:
        raise ValueError(f"The model variable(s) {', '.join(absent)} are not columns of the data "
                         f"(columns: {', '.join(map(str, data.columns))}).")
    frame = data.loc[:, names]
    if missing not in ("error", "drop"):
        raise ValueError(f"missing must be 'error' or 'drop', got {missing!r}.")
    _check_numeric_dtypes(frame)
    counts = frame.isna().sum()
    if counts.any():
        listing = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
        if missing == "error":
            raise ValueError(f"The data have missing values ({listing}). Remove or impute them, or "
                             "pass missing='drop' to drop incomplete rows.")
        keep = ~frame.isna().any(axis=1)
        warnings.warn(f"Dropped {int((~keep).sum())} of {len(frame)} rows with missing values "
                      f"({listing}).", stacklevel=3)
        frame = frame.loc[keep]
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
    is_int = np.all(values == np.round(values), axis=0)
    not_int = [n for n, ok in zip(names, is_int) if n in disc_given and not ok]
    if not_int:
        raise ValueError(f"discrete= names {', '.join(not_int)}, but they have non-integer values.")
    disc = tuple(n for n, ok in zip(names, is_int) if (ok and n not in cont_given) or n in disc_given)

    # Discrete values are dequantized to [k, k + 1): centre on the midpoints.
    shift = np.array([0.5 if n in disc else 0.0 for n in names])
    loc = values.mean(axis=0) + shift
    scale = np.sqrt(sd**2 + np.where(shift > 0, 1.0 / 12.0, 0.0))
    enc = Encoding(
        variables=tuple(names), discrete=disc,
        loc=tuple(map(float, loc)), scale=tuple(map(float, scale)),
        lower=tuple(map(float, values.min(axis=0))), upper=tuple(map(float, values.max(axis=0))),
    )
    return enc, pd.DataFrame(values, columns=names, index=frame.index)


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
    absent = [c for c in cols if c not in frame.columns]
    if absent:
        raise ValueError(f"The {what} lack the model variable(s) {', '.join(absent)}.")
    sub = frame.loc[:, cols]
    _check_numeric_dtypes(sub)
    values = sub.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        listing = ", ".join(f"{c}: {int(n)}" for c, n in zip(cols, bad.sum(axis=0)) if n)
        kind = "missing or non-finite" if np.isnan(values).any() else "non-finite"
        raise ValueError(f"The {what} have {kind} values ({listing}).")
    return values
