"""The validation designs: structural causal models with known effects.

Every design shares the Blau–Duncan graph (:data:`MODEL`): the roots V and X come from a
Gaussian copula, and every other node is ``f(parents, e)`` with its own independent noise
``e ~ N(0, 1)``. :data:`DGPS` names the designs and says what each one is for; ``_SCMS``
holds their structural equations (``_SCM.solve`` turns noise into data). The true effects
of each design are computed in :mod:`medflow.simulation.truth`; data are drawn with
:func:`medflow.simulation.simulate` (also :func:`medflow.datasets.simulate`).

Example:
    >>> from medflow.simulation.designs import DGPS, _SCMS
    >>> sorted(DGPS) == sorted(_SCMS)
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["DGPS", "MODEL"]

#: The model syntax of every Blau–Duncan-shaped data set (V and X are correlated roots).
MODEL = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"

#: Variables in topological order.
_NODES = ("V", "X", "U", "W", "Y")

#: The validation data-generating processes and what each one is for.
DGPS: dict[str, str] = {
    "blau_duncan": "the nonlinear SCM of the bundled data set: education codes 0-8, SEI scores "
                   "0-96, skewed, floor and ceiling effects, X x U in W, U x W in Y, "
                   "heteroskedastic; population correlations within 0.011 of the published matrix",
    "linear": "linear-Gaussian Blau-Duncan model with the published standardized coefficients; "
              "truths by path tracing",
    "nonlinear": "continuous, monotone in each noise, interactions (V x X, U x X, X x W), "
                 "skewed and heavy-tailed noise, heteroskedastic",
    "discrete": "binary V, X, W, Y and ternary U from probit thresholds; exact truths by "
                "enumerating the g-formula",
    "rdiff": "U x W interaction in Y and X x U in W, so that rNDE + rNIE differs from TE",
    "nonmonotone": "U's noise changes sign with X (not monotone in its noise): cross-world "
                   "NDE/NIE via W differ from those of any monotone model of the same data",
}


# ============================================================== structural causal models
def _skew(e: np.ndarray, lam: float) -> np.ndarray:
    """A strictly increasing, skewed transform of standard-normal noise (right-skewed for lam > 0)."""
    return np.expm1(lam * e) / lam


def _sei(latent: np.ndarray) -> np.ndarray:
    """An SEI score: the integer part of a latent, clipped to 0–96 (floor and ceiling)."""
    return np.clip(np.floor(latent), 0.0, 96.0)


def _count_above(cuts: np.ndarray, latent: np.ndarray) -> np.ndarray:
    """An ordinal code: how many thresholds lie strictly below the latent."""
    return np.searchsorted(cuts, latent, side="left").astype(float)


class _SCM:
    """A structural causal model on the Blau–Duncan graph.

    ``(z_V, z_X)`` is bivariate normal with correlation ``rho``; ``V = v(z_V)``,
    ``X = x(z_X)``; ``U = u(V, X, e_U)``, ``W = w(U, X, e_W)``,
    ``Y = y(U, X, W, e_Y)`` with independent standard-normal noises.
    """

    name = ""
    description = ""
    rho = 0.5
    discrete: tuple[str, ...] = ()
    binary_treatment = False

    def v(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def x(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def u(self, v: np.ndarray, x, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def w(self, u: np.ndarray, x, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def y(self, u: np.ndarray, x, w: np.ndarray, e: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ---------------------------------------------------------------- generic
    def roots(self, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V and X from the first two (independent) noise columns via the copula."""
        z_x = self.rho * eps[:, 0] + math.sqrt(1.0 - self.rho ** 2) * eps[:, 1]
        return self.v(eps[:, 0]), self.x(z_x)

    def solve(self, eps: np.ndarray, x=None) -> pd.DataFrame:
        """All five variables for the given noise; ``x`` set means do(X = x)."""
        v, x_obs = self.roots(eps)
        xv = x_obs if x is None else np.full(len(eps), float(x))
        u = self.u(v, xv, eps[:, 2])
        w = self.w(u, xv, eps[:, 3])
        y = self.y(u, xv, w, eps[:, 4])
        frame = pd.DataFrame({"V": v, "X": xv, "U": u, "W": w, "Y": y})
        for name in self.discrete:
            frame[name] = frame[name].astype("int64")
        return frame

    def quantile_x(self, p: float) -> float:
        """Population quantile of X: X is a nondecreasing function of the normal z_X."""
        return float(self.x(np.array([stats.norm.ppf(p)]))[0])

    def default_contrast(self) -> tuple[float, float]:
        """(a, a_ref): 1 vs 0 for a binary X, else X's 75th vs 25th population percentile."""
        if self.binary_treatment:
            return 1.0, 0.0
        return self.quantile_x(0.75), self.quantile_x(0.25)


@dataclass(frozen=True)
class _BlauDuncanSCM(_SCM):
    """The SCM of the bundled synthetic data (calibrated by data-raw/calibrate_blau_duncan.py).

    V (father's education code 0–8): thresholds on z_V giving the shares ``v_probs``.
    X (father's SEI): ``clip(floor(exp(x_mu + x_sigma z_X) - x_shift), 0, 96)``.
    U (son's education code 0–8): the number of thresholds ``u_cuts`` below
    ``u_v V + u_x log(1 + X) + (1 - u_het X / 96) e_U`` (less spread for sons of
    high-status fathers).
    W (first job SEI): ``clip(floor(w_int + w_u h(U) + w_x X + w_ux U X
    + w_sigma (1 + w_het U) s(e_W; w_skew)), 0, 96)``.
    Y (1962 SEI): ``clip(floor(y_int + y_u h(U) + y_x X + y_w W + y_uw (U - 5)(W - 25)
    + y_sigma s(e_Y; y_skew)), 0, 96)``.
    Here ``h(U) = U + h_college max(U - 5, 0)^2`` (the gain from college grows
    with each year) and ``s(e; lam) = (exp(lam e) - 1) / lam``, a right-skewed
    noise that increases with e.
    """

    name: str = "blau_duncan"
    description: str = DGPS["blau_duncan"]
    rho: float = 0.55782
    v_probs: tuple[float, ...] = (0.04, 0.10, 0.20, 0.28, 0.12, 0.13, 0.06, 0.04, 0.03)
    x_mu: float = 3.13573
    x_sigma: float = 0.68434
    x_shift: float = 3.0
    u_v: float = 0.16328
    u_x: float = 0.45040
    u_het: float = 0.4
    u_cuts: tuple[float, ...] = (-0.72230, -0.04092, 0.55905, 1.13975, 1.70035, 2.53632, 2.91684, 3.42960)
    h_college: float = 0.8
    w_int: float = 4.75018
    w_u: float = 2.50876
    w_x: float = 0.13770
    w_ux: float = 0.015
    w_sigma: float = 10.0
    w_het: float = 0.08
    w_skew: float = 0.45
    y_int: float = 10.86025
    y_u: float = 2.50862
    y_x: float = 0.11138
    y_w: float = 0.22181
    y_uw: float = 0.03
    y_sigma: float = 13.0
    y_skew: float = 0.35
    discrete: tuple[str, ...] = _NODES

    def v(self, z):
        return _count_above(stats.norm.ppf(np.cumsum(self.v_probs)[:-1]), z)

    def x(self, z):
        return _sei(np.exp(self.x_mu + self.x_sigma * z) - self.x_shift)

    def u_latent(self, v, x, e):
        return self.u_v * v + self.u_x * np.log1p(x) + (1.0 - self.u_het * x / 96.0) * e

    def u(self, v, x, e):
        return _count_above(np.asarray(self.u_cuts), self.u_latent(v, x, e))

    def _h(self, u):
        return u + self.h_college * np.maximum(u - 5.0, 0.0) ** 2

    def w(self, u, x, e):
        return _sei(self.w_int + self.w_u * self._h(u) + self.w_x * x + self.w_ux * u * x
                    + self.w_sigma * (1.0 + self.w_het * u) * _skew(e, self.w_skew))

    def y(self, u, x, w, e):
        return _sei(self.y_int + self.y_u * self._h(u) + self.y_x * x + self.y_w * w
                    + self.y_uw * (u - 5.0) * (w - 25.0) + self.y_sigma * _skew(e, self.y_skew))


@dataclass(frozen=True)
class _LinearSCM(_SCM):
    """Standardized linear-Gaussian Blau–Duncan model (coefficients of docs/design.md §1).

    V, X ~ N(0, 1) with correlation .516; U = .309 V + .278 X + s_U e_U;
    W = .440 U + .224 X + s_W e_W; Y = .394 U + .115 X + .281 W + s_Y e_Y, with
    the residual scales s chosen so that every variable has variance 1.
    """

    name: str = "linear"
    description: str = DGPS["linear"]
    rho: float = 0.516
    coef: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: {
        "U": {"V": 0.309, "X": 0.278},
        "W": {"U": 0.440, "X": 0.224},
        "Y": {"U": 0.394, "X": 0.115, "W": 0.281},
    })

    @cached_property
    def residual_scales(self) -> dict[str, float]:
        """Residual SDs giving unit variances (covariance propagation down the graph)."""
        cov = pd.DataFrame(0.0, index=list(_NODES), columns=list(_NODES))
        cov.loc["V", "V"] = cov.loc["X", "X"] = 1.0
        cov.loc["V", "X"] = cov.loc["X", "V"] = self.rho
        scales = {}
        for node in ("U", "W", "Y"):
            b = pd.Series(self.coef[node])
            explained = float(b @ cov.loc[b.index, b.index] @ b)
            scales[node] = math.sqrt(1.0 - explained)
            row = cov.loc[b.index].T @ b           # covariance of the node with every variable
            cov.loc[node, :] = row
            cov.loc[:, node] = row
            cov.loc[node, node] = 1.0
        return scales

    def v(self, z):
        return z

    def x(self, z):
        return z

    def u(self, v, x, e):
        c = self.coef["U"]
        return c["V"] * v + c["X"] * x + self.residual_scales["U"] * e

    def w(self, u, x, e):
        c = self.coef["W"]
        return c["U"] * u + c["X"] * x + self.residual_scales["W"] * e

    def y(self, u, x, w, e):
        c = self.coef["Y"]
        return c["U"] * u + c["X"] * x + c["W"] * w + self.residual_scales["Y"] * e


@dataclass(frozen=True)
class _NonlinearSCM(_SCM):
    """Continuous, monotone in every noise, with interactions and non-Gaussian noise.

    V = z_V; X = exp(0.5 z_X) - 1 (right-skewed); copula correlation .55.
    U = 0.35 V + 0.6 tanh(X) + 0.15 V X + (0.8 + 0.2 tanh X) sinh(0.6 e_U) / 0.6
    W = 0.45 U + 0.3 X + 0.25 U X + (0.5 + 0.3 log(1 + exp U)) s(e_W; 0.5)
    Y = 0.4 U + 0.2 X + 0.3 W + 0.15 X W - 0.04 W^2 + 0.6 s(e_Y; -0.4)
    (s as in the Blau–Duncan SCM; s(.; -0.4) is left-skewed).
    """

    name: str = "nonlinear"
    description: str = DGPS["nonlinear"]
    rho: float = 0.55

    def v(self, z):
        return z

    def x(self, z):
        return np.expm1(0.5 * z)

    def u(self, v, x, e):
        return (0.35 * v + 0.6 * np.tanh(x) + 0.15 * v * x
                + (0.8 + 0.2 * np.tanh(x)) * np.sinh(0.6 * e) / 0.6)

    def w(self, u, x, e):
        return 0.45 * u + 0.3 * x + 0.25 * u * x + (0.5 + 0.3 * np.logaddexp(0.0, u)) * _skew(e, 0.5)

    def y(self, u, x, w, e):
        return 0.4 * u + 0.2 * x + 0.3 * w + 0.15 * x * w - 0.04 * w ** 2 + 0.6 * _skew(e, -0.4)


@dataclass(frozen=True)
class _RdiffSCM(_SCM):
    """Interventional effects that do not add up to the total effect.

    V, X ~ N(0, 1) with correlation .5; U = 0.3 V + 0.6 X + 0.8 e_U;
    W = 0.7 U + 0.3 X + 0.4 X U + 0.6 e_W; Y = 0.3 U + 0.2 X + 0.3 W + 0.5 U W
    + 0.2 X U + 0.7 e_Y. rNDE + rNIE = E[Y(a, G_a)] - E[Y(a*, G_a*)] replaces
    the dependence of W on U within a world by independent draws; with the
    U × W term in Y that changes the mean by 0.5 Cov(U, W | V, x), and the
    X × U term in W makes that covariance differ between a and a*. (An
    X × U term in Y alone would not separate rNDE + rNIE from TE.)
    """

    name: str = "rdiff"
    description: str = DGPS["rdiff"]
    rho: float = 0.5

    def v(self, z):
        return z

    def x(self, z):
        return z

    def u(self, v, x, e):
        return 0.3 * v + 0.6 * x + 0.8 * e

    def w(self, u, x, e):
        return 0.7 * u + 0.3 * x + 0.4 * x * u + 0.6 * e

    def y(self, u, x, w, e):
        return 0.3 * u + 0.2 * x + 0.3 * w + 0.5 * u * w + 0.2 * x * u + 0.7 * e


@dataclass(frozen=True)
class _NonmonotoneSCM(_SCM):
    """U's noise flips sign with X: U = 0.3 V + 0.5 X + 0.8 sign(X) e_U.

    V, X ~ N(0, 1) with correlation .5; W = 0.6 U + 0.3 X + 0.6 e_W;
    Y = 0.3 U + 0.2 X + 0.3 W + 0.4 U W + 0.7 e_Y.
    Because e_U is symmetric, the data have exactly the law of the monotone
    twin U = 0.3 V + 0.5 X + 0.8 e_U (``flip=False``). Everything identified
    (TE, effects via U, the decomposition parts, rNDE/rNIE) is the same in both
    models. The cross-world NDE/NIE via W are not: for a > 0 > a* the true
    U(a) and U(a*) move in opposite directions with e_U, while in any monotone
    model they move together, and the U × W term in Y turns that coupling into
    a different E[Y(a, U(a), W(a*, U(a*)))].
    """

    name: str = "nonmonotone"
    description: str = DGPS["nonmonotone"]
    rho: float = 0.5
    flip: bool = True

    def v(self, z):
        return z

    def x(self, z):
        return z

    def u(self, v, x, e):
        sign = np.where(np.asarray(x) >= 0.0, 1.0, -1.0) if self.flip else 1.0
        return 0.3 * v + 0.5 * x + 0.8 * sign * e

    def w(self, u, x, e):
        return 0.6 * u + 0.3 * x + 0.6 * e

    def y(self, u, x, w, e):
        return 0.3 * u + 0.2 * x + 0.3 * w + 0.4 * u * w + 0.7 * e


@dataclass(frozen=True)
class _DiscreteSCM(_SCM):
    """Binary V, X, W, Y and ternary U, each a threshold of a normal latent (probit).

    V = 1[z_V > 0.3], X = 1[z_X > 0.25], copula correlation .5;
    U = number of cuts (0.2, 1.2) below 0.5 V + 0.8 X + e_U;
    W = 1[-0.6 + 0.5 U + 0.4 X + 0.3 U X + e_W > 0];
    Y = 1[-1.0 + 0.4 U + 0.3 X + 0.6 W + 0.4 U W + e_Y > 0].
    """

    name: str = "discrete"
    description: str = DGPS["discrete"]
    rho: float = 0.5
    v_cut: float = 0.3
    x_cut: float = 0.25
    u_cuts: tuple[float, float] = (0.2, 1.2)
    discrete: tuple[str, ...] = _NODES
    binary_treatment: bool = True

    def v(self, z):
        return (z > self.v_cut).astype(float)

    def x(self, z):
        return (z > self.x_cut).astype(float)

    def u_index(self, v, x):
        return 0.5 * v + 0.8 * x

    def w_index(self, u, x):
        return -0.6 + 0.5 * u + 0.4 * x + 0.3 * u * x

    def y_index(self, u, x, w):
        return -1.0 + 0.4 * u + 0.3 * x + 0.6 * w + 0.4 * u * w

    def u(self, v, x, e):
        return _count_above(np.asarray(self.u_cuts), self.u_index(v, x) + e)

    def w(self, u, x, e):
        return (self.w_index(u, x) + e > 0).astype(float)

    def y(self, u, x, w, e):
        return (self.y_index(u, x, w) + e > 0).astype(float)


_SCMS: dict[str, _SCM] = {
    "blau_duncan": _BlauDuncanSCM(),
    "linear": _LinearSCM(),
    "nonlinear": _NonlinearSCM(),
    "discrete": _DiscreteSCM(),
    "rdiff": _RdiffSCM(),
    "nonmonotone": _NonmonotoneSCM(),
}
_MONOTONE_TWIN = _NonmonotoneSCM(name="nonmonotone_twin", flip=False)
