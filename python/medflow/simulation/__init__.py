"""Simulated worlds with known effects: the validation designs, their truths and draws.

* :mod:`medflow.simulation.designs` — the structural causal models (:data:`DGPS`);
* :mod:`medflow.simulation.truth` — the truth oracles (Monte Carlo with shared noise,
  path tracing, the g-formula by enumeration);
* :func:`simulate` — ``n`` fresh units from a design, as a :class:`Simulation` that knows
  its true effects.

:mod:`medflow.datasets` re-exports :func:`simulate`, :class:`Simulation` and
:data:`DGPS`, the names users import.

Example:
    >>> from medflow.simulation import simulate
    >>> simulate("linear", n=10, seed=0).data.shape
    (10, 5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medflow.simulation.designs import _MONOTONE_TWIN, _NODES, _SCM, _SCMS, DGPS, MODEL
from medflow.simulation.truth import _default_truth, _sample_truth, _truth

__all__ = ["DGPS", "Simulation", "simulate"]


# ============================================================== simulations
def _draw(scm: _SCM, n: int, seed: int | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Noise (n x 5 standard normals, one local generator) and the data it generates."""
    eps = np.random.default_rng(seed).standard_normal((n, 5))
    return eps, scm.solve(eps)


@dataclass(frozen=True)
class Simulation:
    """Data drawn from a known structural causal model, with the model's true effects.

    Attributes:
        dgp: the model's name (a key of :data:`DGPS`).
        data: the simulated data, columns ``V, X, U, W, Y`` (discrete nodes as integers).
        model: model syntax for medflow (``MODEL``).
        treatment: ``"X"``.
        outcome: ``"Y"``.
        truth: the true effects at the default contrast, columns ``label, a, a_ref,
            truth, truth_sd, mc_error`` (``truth_sd`` = truth / population SD of Y;
            ``mc_error`` = Monte Carlo standard error, 0 for exact truths).
        discrete: the integer-valued (threshold/floor) variables.
        noise: the independent standard-normal noises behind each row (columns
            ``V, X, U, W, Y``; X's copula latent is ``rho * V + sqrt(1 - rho^2) * X``).
        monotone_truth: for ``"nonmonotone"`` only, the truths of its monotone twin,
            which generates data with exactly the same distribution — what a
            correct monotone model of these data converges to.
        seed: the seed the data were drawn with.
    """

    dgp: str
    data: pd.DataFrame = field(repr=False)
    model: str
    treatment: str
    outcome: str
    truth: pd.DataFrame = field(repr=False)
    discrete: tuple[str, ...]
    noise: pd.DataFrame = field(repr=False)
    monotone_truth: pd.DataFrame | None = field(default=None, repr=False)
    seed: int | None = None

    def __repr__(self) -> str:
        return f"Simulation(dgp={self.dgp!r}, n={len(self.data)}, seed={self.seed})"

    @property
    def description(self) -> str:
        """What the model is for (from :data:`DGPS`)."""
        return DGPS[self.dgp]

    def truth_at(self, a: float, a_ref: float, n_mc: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
        """The true effects for the contrast X = a vs X = a_ref.

        Exact for ``"linear"`` (path tracing) and ``"discrete"`` (enumeration);
        otherwise by the Monte Carlo oracle with ``n_mc`` units and ``seed``.
        """
        _check_contrast(a, a_ref)
        return _truth(_SCMS[self.dgp], float(a), float(a_ref), n_mc=_check_n(n_mc, "n_mc"), seed=seed)

    def sample_truth(self, a: float | None = None, a_ref: float | None = None, seed: int = 0) -> pd.DataFrame:
        """Effects averaged over the simulated units themselves (their own noise).

        Differs from :attr:`truth` by sampling error only; useful to separate an
        estimator's error from the sample's. ``seed`` drives the fresh mediator
        draws of the interventional effects; ``truth_sd`` divides by the sample SD
        of Y. Defaults: the contrast of :attr:`truth`.
        """
        a = float(self.truth["a"].iloc[0] if a is None else a)
        a_ref = float(self.truth["a_ref"].iloc[0] if a_ref is None else a_ref)
        _check_contrast(a, a_ref)
        return _sample_truth(_SCMS[self.dgp], self.noise[list(_NODES)].to_numpy(),
                             float(self.data[self.outcome].std()), a, a_ref, seed)

    def counterfactual(self, x: float) -> pd.DataFrame:
        """Each simulated unit's values under do(X = x) (same noise; V unchanged)."""
        _check_contrast(x, x)
        return _SCMS[self.dgp].solve(self.noise[list(_NODES)].to_numpy(), x=float(x))

    def dose_response(self, grid, n_mc: int = 200_000, seed: int = 0) -> pd.DataFrame:
        """True mean outcome E[Y(a)] over a grid of treatment values (Monte Carlo).

        Returns:
            DataFrame with columns ``a, truth, mc_error``.
        """
        scm = _SCMS[self.dgp]
        grid = np.atleast_1d(np.asarray(grid, dtype=float))
        if grid.size == 0 or not np.isfinite(grid).all():
            raise ValueError("grid must hold at least one finite treatment value.")
        eps = np.random.default_rng(seed).standard_normal((_check_n(n_mc, "n_mc"), 5))
        rows = []
        for a in grid:
            y = scm.solve(eps, x=a)["Y"].to_numpy(dtype=float)
            rows.append((float(a), float(y.mean()), float(y.std(ddof=1)) / math.sqrt(len(y))))
        return pd.DataFrame(rows, columns=["a", "truth", "mc_error"])


def _check_n(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{what} must be an integer of at least 2, got {n!r}.")
    return int(n)


def _check_contrast(a, a_ref) -> None:
    for name, value in (("a", a), ("a_ref", a_ref)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}.")


def simulate(dgp: str, n: int, seed: int | None = None) -> Simulation:
    """Draw ``n`` units from a validation model and attach its true effects.

    Args:
        dgp: one of :data:`DGPS`: ``"blau_duncan"`` (the SCM of the bundled data),
            ``"linear"``, ``"nonlinear"``, ``"discrete"``, ``"rdiff"``, ``"nonmonotone"``.
        n: number of units (at least 2).
        seed: seed of a local ``numpy.random.default_rng``; the same seed gives
            the same data. ``None`` draws fresh entropy.

    Returns:
        A :class:`Simulation`; ``.truth`` holds the effects of X on Y at the default
        contrast (X's 75th vs 25th population percentile; 1 vs 0 for ``"discrete"``).

    Example:
        >>> from medflow.datasets import simulate
        >>> sim = simulate("discrete", n=500, seed=0)
        >>> sim.data.dtypes.unique().tolist(), sorted(sim.data["U"].unique().tolist())
        ([dtype('int64')], [0, 1, 2])
    """
    if not isinstance(dgp, str) or dgp not in _SCMS:
        raise ValueError(f"Unknown dgp {dgp!r}; choose one of: {', '.join(DGPS)}.")
    n = _check_n(n)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer or None, got {seed!r}.")
    scm = _SCMS[dgp]
    eps, data = _draw(scm, n, seed)
    return Simulation(
        dgp=dgp, data=data, model=MODEL, treatment="X", outcome="Y",
        truth=_default_truth(dgp).copy(), discrete=tuple(scm.discrete),
        noise=pd.DataFrame(eps, columns=list(_NODES)),
        monotone_truth=_default_truth(_MONOTONE_TWIN.name).copy() if dgp == "nonmonotone" else None,
        seed=None if seed is None else int(seed),
    )
