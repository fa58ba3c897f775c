"""Data for medflow: the Blau–Duncan numbers, a reader for OCG 1962 and simulated worlds.

* :func:`blau_duncan_correlations` — the published 5×5 correlation matrix
  (Blau & Duncan 1967, p. 169; N = 20,700).
* :func:`read_ocg1962` — reads a user's own copy of the OCG 1962 microdata
  (fixed-width layout of DESIGN §1), which may not be redistributed.
* :func:`blau_duncan_synthetic` — a bundled synthetic data set (N = 20,700) drawn
  from the nonlinear structural causal model ``"blau_duncan"`` below, and
  :func:`blau_duncan_truth` — its causal effects, computed from that model.
* :func:`simulate` — fresh data from one of the validation models in :data:`DGPS`,
  returned as a :class:`Simulation` that knows the model's true effects.
* :func:`gss_status_attainment` — real data: 1,501 men aged 25–64 from the
  General Social Survey 2006–2010 panels with father's education and
  occupation and their own education and occupation (no first job, so the
  model is :data:`GSS_MODEL`, the Blau–Duncan graph without W).

All models share the Blau–Duncan graph (``U ~ V + X; W ~ U + X; Y ~ U + X + W;
V ~~ X``): the roots V and X come from a Gaussian copula, and every other node is
``f(parents, e)`` with its own independent noise ``e ~ N(0, 1)``. In every model
but ``"nonmonotone"``, ``f`` is increasing in ``e``: strictly for a continuous
node, and for a discrete node as a threshold or floor of a continuous latent
that is strictly increasing in ``e``.

True effects come from an oracle that does not use medflow's estimators. It
writes out the nested counterfactuals of the graph by hand (for example
``Y(a, U(a), W(a*, U(a*)))`` for the natural direct effect via W) and
evaluates them with the same noise in every world on a large Monte Carlo
sample. Two models also have closed forms, which are the truths reported for
them (the Monte Carlo oracle is tested against both): path tracing for
``"linear"``, and for ``"discrete"`` a sum over all values with probit
probabilities (the g-formula).

Example:
    >>> from medflow.datasets import simulate
    >>> sim = simulate("linear", n=1000, seed=1)
    >>> sim.data.shape, sim.model
    ((1000, 5), 'U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X')
    >>> round(float(sim.truth.set_index("label").loc["TE", "truth"]), 4)
    0.4342
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from medflow.dag import DAG

__all__ = [
    "DGPS",
    "EFFECT_LABELS",
    "GSS_MODEL",
    "MODEL",
    "OCG1962_LAYOUT",
    "Simulation",
    "blau_duncan_correlations",
    "blau_duncan_synthetic",
    "blau_duncan_truth",
    "gss_status_attainment",
    "compas",
    "read_ocg1962",
    "simulate",
]

#: The model syntax of every Blau–Duncan-shaped data set (V and X are correlated roots).
MODEL = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"

#: The model of the GSS data (:func:`gss_status_attainment`): the Blau–Duncan graph without the
#: first job W, which the GSS never asked for.
GSS_MODEL = "U ~ V + X; Y ~ U + X; V ~~ X"

#: Variables in topological order.
_NODES = ("V", "X", "U", "W", "Y")

#: The effects every truth table reports, in this order (treatment X, outcome Y).
EFFECT_LABELS: tuple[str, ...] = (
    "TE",
    "NDE via W", "NIE via W",
    "NDE via U", "NIE via U",
    "NDE via U+W", "NIE via U+W",
    "PART via U", "PART via W", "PART direct",
    "rNDE via W", "rNIE via W",
    "rNDE via U", "rNIE via U",
)

#: Columns of a truth table.
TRUTH_COLUMNS = ("label", "a", "a_ref", "truth", "truth_sd", "mc_error")

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

_DATA = resources.files("medflow") / "data"
_BUNDLED_SEED = 1967
_BUNDLED_N = 20_700


# ============================================================== published correlations
def blau_duncan_correlations() -> pd.DataFrame:
    """The correlations of Blau & Duncan (1967, p. 169) among V, X, U, W, Y.

    Returns:
        A symmetric 5×5 DataFrame with index and columns ``V, X, U, W, Y``;
        ``.attrs["n"]`` is the sample size (20,700) and ``.attrs["source"]`` the
        citation.

    Example:
        >>> from medflow.datasets import blau_duncan_correlations
        >>> r = blau_duncan_correlations()
        >>> float(r.loc["X", "Y"]), r.attrs["n"]
        (0.405, 20700)
    """
    text = (_DATA / "blau_duncan_correlations.csv").read_text(encoding="utf-8")
    meta = {}
    for line in text.splitlines():
        if line.startswith("#") and ":" in line:
            key, value = line[1:].split(":", 1)
            meta[key.strip()] = value.strip()
    frame = pd.read_csv(_DATA / "blau_duncan_correlations.csv", comment="#", index_col=0)
    frame.index.name = None
    frame.attrs["n"] = int(meta["n"])
    frame.attrs["source"] = meta["source"]
    frame.attrs["labels"] = {name: meta[name] for name in _NODES}
    return frame


# ============================================================== COMPAS (fair inference)
#: Columns of :func:`compas` and what they mean.
COMPAS_COLUMNS: dict[str, str] = {
    "race": "1 African-American, 0 Caucasian (the sensitive variable)",
    "sex": "1 male, 0 female",
    "age": "age at screening (years)",
    "priors_count": "number of prior convictions",
    "juv_fel_count": "juvenile felonies",
    "juv_misd_count": "juvenile misdemeanours",
    "charge_felony": "1 if the current charge is a felony",
    "decile_score": "COMPAS risk-of-recidivism decile (1-10)",
    "two_year_recid": "1 if re-arrested within two years (the outcome)",
}


def compas() -> pd.DataFrame:
    """ProPublica's COMPAS two-year recidivism data, as filtered by Nabi & Shpitser (2018).

    5,278 African-American and Caucasian defendants screened in Broward County, Florida,
    in 2013-2014 (charge within 30 days of screening, known outcome, no ordinary traffic
    offences); names, dates and case numbers removed (data-raw/compas_two_year.py).
    ``.attrs["labels"]`` describes the columns, ``.attrs["source"]`` cites ProPublica.

    Example:
        >>> from medflow.datasets import compas
        >>> df = compas()
        >>> df.shape, round(float(df["two_year_recid"].mean()), 3)
        ((5278, 9), 0.47)
    """
    frame = pd.read_csv(_DATA / "compas_two_year.csv")
    frame.attrs["labels"] = dict(COMPAS_COLUMNS)
    frame.attrs["source"] = ("Angwin, Larson, Mattu and Kirchner (2016), Machine Bias, ProPublica; "
                             "compas-scores-two-years.csv of propublica/compas-analysis")
    return frame


# ============================================================== OCG 1962 reader
#: 1-based, inclusive column ranges of the OCG 1962 fixed-width layout (DESIGN §1).
OCG1962_LAYOUT: dict[str, tuple[int, int]] = {
    "race": (30, 30), "Y": (119, 121), "W": (131, 133), "X": (143, 145), "U": (166, 167), "V": (168, 169),
}
_OCG_MISSING = {"V": 9, "X": 99, "W": 99, "Y": 99}
_OCG_RANGE = {"V": (0, 8), "X": (0, 96), "U": (0, 8), "W": (0, 96), "Y": (0, 96)}


def read_ocg1962(path: str | Path) -> pd.DataFrame:
    """Read the analytic sample from a user's own OCG 1962 fixed-width file.

    Columns (1-based): race 30 (0 = white), Y 119–121, W 131–133, X 143–145,
    U 166–167 (education code 0–8), V 168–169 (0–8, 9 = missing); 99 in W, X, Y
    means missing, and blank fields are missing too. Empty lines are skipped.
    The rows kept are white men (race code 0) with V, X, U, W and Y all present
    and in range (V, U 0–8; X, W, Y 0–96). Every dropped row is counted: a
    warning gives the counts and ``.attrs["dropped"]`` holds them.

    Args:
        path: the fixed-width text file.

    Returns:
        A DataFrame with integer columns ``V, X, U, W, Y``, one row per man
        kept. ``.attrs["n_read"]`` is the number of records read and
        ``.attrs["dropped"]`` maps each reason to a count: ``"not white"`` and,
        among white men, ``"missing V"``, ``"out of range V"`` and so on (a row
        can count under several of these), plus ``"total"``.

    Raises:
        FileNotFoundError: if there is no file at ``path``.
        ValueError: if a line is shorter than 169 characters, a field is not a
            number, or no rows are left.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> line = [" "] * 169
        >>> for name, value in {"race": "0", "Y": "045", "W": "031", "X": "052",
        ...                     "U": "05", "V": "04"}.items():
        ...     first, last = OCG1962_LAYOUT[name]
        ...     line[first - 1:last] = value
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     f = Path(tmp) / "ocg.txt"
        ...     _ = f.write_text("".join(line) + "\\n")
        ...     read_ocg1962(f).iloc[0].tolist()
        [4, 52, 5, 31, 45]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No OCG 1962 file at '{path}'.")
    lines = path.read_text(encoding="latin-1").splitlines()
    numbers = [k for k, line in enumerate(lines, start=1) if line]
    width = max(last for _, last in OCG1962_LAYOUT.values())
    for k in numbers:
        if len(lines[k - 1]) < width:
            raise ValueError(
                f"Line {k} of '{path}' has {len(lines[k - 1])} characters; the OCG 1962 layout needs "
                f"at least {width} (V is in columns 168-169)."
            )
    if not numbers:
        raise ValueError(f"'{path}' has no records.")
    raw = pd.Series([lines[k - 1] for k in numbers])
    fields = {}
    for name, (first, last) in OCG1962_LAYOUT.items():
        text = raw.str.slice(first - 1, last).str.strip()
        bad = ~text.str.fullmatch(r"[0-9]*")
        if bad.any():
            k = numbers[int(np.flatnonzero(bad.to_numpy())[0])]
            raise ValueError(
                f"Line {k} of '{path}': columns {first}-{last} ({name}) hold "
                f"'{raw.iloc[numbers.index(k)][first - 1:last]}', which is not a number; "
                "is this an OCG 1962 file with the layout of read_ocg1962()?"
            )
        fields[name] = pd.to_numeric(text.where(text != ""), errors="raise").astype("Float64")

    white = (fields["race"] == 0).fillna(False).to_numpy(dtype=bool)
    dropped: dict[str, int] = {"not white": int((~white).sum())}
    keep = white.copy()
    for name in _NODES:
        value = fields[name]
        code = _OCG_MISSING.get(name)
        missing = value.isna() | ((value == code).fillna(False) if code is not None else False)
        lo, hi = _OCG_RANGE[name]
        out = ~missing & ~value.between(lo, hi).fillna(False)
        missing, out = missing.to_numpy(dtype=bool), out.to_numpy(dtype=bool)
        dropped[f"missing {name}"] = int((white & missing).sum())
        dropped[f"out of range {name}"] = int((white & out).sum())
        keep &= ~missing & ~out
    dropped["total"] = int((~keep).sum())
    incomplete = dropped["total"] - dropped["not white"]
    if not keep.any():
        raise ValueError(f"No white men with complete V, X, U, W, Y in '{path}': {len(numbers)} records "
                         f"read, {dropped['not white']} not white, {incomplete} white with missing or "
                         "out-of-range values.")
    data = pd.DataFrame({name: fields[name][keep].astype("int64").to_numpy() for name in _NODES})
    data.attrs["n_read"] = len(numbers)
    data.attrs["dropped"] = dropped
    if dropped["total"]:
        detail = ", ".join(f"{reason} {count}" for reason, count in dropped.items()
                           if count and reason not in ("total", "not white"))
        warnings.warn(
            f"read_ocg1962: kept {len(data):,} of {len(numbers):,} records (white men with complete "
            f"V, X, U, W, Y); dropped {dropped['total']:,}: {dropped['not white']:,} not white "
            f"(race code other than 0), {incomplete:,} white with missing or out-of-range values"
            + (f" ({detail}; a record can lack several)" if detail else "") + ".",
            UserWarning, stacklevel=2,
        )
    return data


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
    """Standardized linear-Gaussian Blau–Duncan model (coefficients of DESIGN §1).

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


# ============================================================== the oracle
def _world_values(scm: _SCM, eps: np.ndarray, fresh: np.ndarray, a: float, a_ref: float) -> dict[str, np.ndarray]:
    """Per-unit effects from the nested counterfactuals, written out for the Blau–Duncan graph.

    ``eps`` holds each unit's noise (V, X, U, W, Y); ``fresh`` two more independent
    noise columns used only for the randomized mediator draws of the
    interventional effects (fresh U noise, fresh W noise). V keeps its value in
    every world (it is not a descendant of X).
    """
    v, _ = scm.roots(eps)
    n = len(eps)
    xa, xs = np.full(n, float(a)), np.full(n, float(a_ref))
    e_u, e_w, e_y = eps[:, 2], eps[:, 3], eps[:, 4]

    def U(x, e=e_u):
        return scm.u(v, x, e)

    def W(x, u, e=e_w):
        return scm.w(u, x, e)

    def Y(x, u, w):
        return scm.y(u, x, w, e_y)

    ua, us = U(xa), U(xs)
    y_a = Y(xa, ua, W(xa, ua))                     # Y(a)
    y_s = Y(xs, us, W(xs, us))                     # Y(a*)
    y_not_w = Y(xa, ua, W(xs, us))                 # Y(a, U(a), W(a*, U(a*))): paths avoiding W at a
    y_not_u = Y(xa, us, W(xa, us))                 # Y(a, U(a*), W(a, U(a*))): paths avoiding U at a
    y_direct = Y(xa, us, W(xs, us))                # only X -> Y at a
    y_via_u = Y(xs, ua, W(xs, ua))                 # only paths through U at a
    y_via_uw = Y(xs, ua, W(xa, ua))                # every path but X -> Y at a
    # Interventional draws: fresh noise for the mediator and the exposure-induced confounder.
    fu, fw = fresh[:, 0], fresh[:, 1]
    g_a = W(xa, U(xa, fu), fw)                     # a draw of W(a) given V
    g_s = W(xs, U(xs, fu), fw)                     # a draw of W(a*) given V
    h_a, h_s = U(xa, fu), U(xs, fu)                # draws of U(a), U(a*) given V
    y_h = {key: Y(x, h, W(x, h)) for key, (x, h) in
           {"a,a": (xa, h_a), "a,s": (xa, h_s), "s,s": (xs, h_s)}.items()}
    return {
        "TE": y_a - y_s,
        "NDE via W": y_not_w - y_s,
        "NIE via W": y_a - y_not_w,
        "NDE via U": y_not_u - y_s,
        "NIE via U": y_a - y_not_u,
        "NDE via U+W": y_direct - y_s,
        "NIE via U+W": y_a - y_direct,
        "PART via U": y_via_u - y_s,
        "PART via W": y_via_uw - y_via_u,
        "PART direct": y_a - y_via_uw,
        "rNDE via W": Y(xa, ua, g_s) - Y(xs, us, g_s),
        "rNIE via W": Y(xa, ua, g_a) - Y(xa, ua, g_s),
        "rNDE via U": y_h["a,s"] - y_h["s,s"],
        "rNIE via U": y_h["a,a"] - y_h["a,s"],
    }


def _potential_outcomes(scm: _SCM, eps: np.ndarray, fresh: np.ndarray, a: float,
                        a_ref: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The two outcome worlds each effect of :data:`EFFECT_LABELS` (but the PART rows) contrasts.

    ``label -> (Y in the active world, Y in the reference world)`` per unit, with the same
    noise in every world (the nested counterfactuals of :func:`_world_values`); the truths of
    distributional effects are contrasts of functionals (quantiles, exceedances) of the two.
    """
    v, _ = scm.roots(eps)
    n = len(eps)
    xa, xs = np.full(n, float(a)), np.full(n, float(a_ref))
    e_u, e_w, e_y = eps[:, 2], eps[:, 3], eps[:, 4]
    ua, us = scm.u(v, xa, e_u), scm.u(v, xs, e_u)
    wa, ws = scm.w(ua, xa, e_w), scm.w(us, xs, e_w)
    y_a, y_s = scm.y(ua, xa, wa, e_y), scm.y(us, xs, ws, e_y)
    y_not_w = scm.y(ua, xa, ws, e_y)
    y_not_u = scm.y(us, xa, scm.w(us, xa, e_w), e_y)
    y_direct = scm.y(us, xa, ws, e_y)
    fu, fw = fresh[:, 0], fresh[:, 1]
    g_a, g_s = scm.w(scm.u(v, xa, fu), xa, fw), scm.w(scm.u(v, xs, fu), xs, fw)
    h_a, h_s = scm.u(v, xa, fu), scm.u(v, xs, fu)
    y_h = {key: scm.y(h, x, scm.w(h, x, e_w), e_y) for key, (x, h) in
           {"a,a": (xa, h_a), "a,s": (xa, h_s), "s,s": (xs, h_s)}.items()}
    y_g_as = scm.y(ua, xa, g_s, e_y)
    return {
        "TE": (y_a, y_s),
        "NDE via W": (y_not_w, y_s), "NIE via W": (y_a, y_not_w),
        "NDE via U": (y_not_u, y_s), "NIE via U": (y_a, y_not_u),
        "NDE via U+W": (y_direct, y_s), "NIE via U+W": (y_a, y_direct),
        "rNDE via W": (y_g_as, scm.y(us, xs, g_s, e_y)), "rNIE via W": (scm.y(ua, xa, g_a, e_y), y_g_as),
        "rNDE via U": (y_h["a,s"], y_h["s,s"]), "rNIE via U": (y_h["a,a"], y_h["a,s"]),
    }


def _distributional_truth(scm: _SCM, eps: np.ndarray, fresh: np.ndarray, a: float, a_ref: float,
                          quantiles=(0.1, 0.25, 0.5, 0.75, 0.9), thresholds=()) -> pd.DataFrame:
    """Shared-noise truths of quantile and threshold effects over the units with noise ``eps``.

    Quantiles are those of the empirical distributions over the units (``inverted_cdf``, as the
    estimator's); labels as :func:`medflow.distributional.distributional_effects` writes them.
    Columns ``label, quantile, threshold, truth, truth_sd`` (``truth_sd`` divides by the SD of
    Y over the units; threshold rows, differences of probabilities, repeat ``truth``).
    """
    sd_y = float(scm.solve(eps)["Y"].std())
    rows = []
    for label, (hi, lo) in _potential_outcomes(scm, eps, fresh, a, a_ref).items():
        for q in quantiles:
            value = float(np.quantile(hi, q, method="inverted_cdf") - np.quantile(lo, q, method="inverted_cdf"))
            rows.append((f"{label} [q={q:g}]", float(q), math.nan, value, value / sd_y))
        for c in thresholds:
            value = float(np.mean(hi > c) - np.mean(lo > c))
            rows.append((f"{label} [P(Y > {c:g})]", math.nan, float(c), value, value))
    return pd.DataFrame(rows, columns=["label", "quantile", "threshold", "truth", "truth_sd"])


def _mobility_truth(scm: _SCM, eps: np.ndarray, a_ref: float, mediators: str) -> np.ndarray:
    """Each unit's Y with the mediators ``"U"``, ``"W"`` or ``"U+W"`` at their value under
    X = a_ref and every other path carrying the unit's own X (same noise in every world)."""
    v, x = scm.roots(eps)
    xs = np.full(len(eps), float(a_ref))
    e_u, e_w, e_y = eps[:, 2], eps[:, 3], eps[:, 4]
    u_own, u_ref = scm.u(v, x, e_u), scm.u(v, xs, e_u)
    if mediators == "U":
        return scm.y(u_ref, x, scm.w(u_ref, x, e_w), e_y)
    if mediators == "W":
        return scm.y(u_own, x, scm.w(u_ref, xs, e_w), e_y)
    if mediators == "U+W":
        return scm.y(u_ref, x, scm.w(u_ref, xs, e_w), e_y)
    raise ValueError(f"mediators must be 'U', 'W' or 'U+W', got {mediators!r}.")


def _pooled(parts: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Mean and SD of a sample given per-chunk (size, mean, variance)."""
    sizes = np.array([p[0] for p in parts], dtype=float)
    means = np.array([p[1] for p in parts])
    variances = np.array([p[2] for p in parts])
    total = sizes.sum()
    mean = float((sizes * means).sum() / total)
    ss = ((sizes - 1) * variances).sum() + (sizes * (means - mean) ** 2).sum()
    return mean, math.sqrt(max(float(ss) / (total - 1), 0.0))


def _mc_truth(scm: _SCM, a: float, a_ref: float, n_mc: int, seed: int,
              chunk: int = 250_000) -> pd.DataFrame:
    """Monte Carlo truths: means of the per-unit effects, with their Monte Carlo SEs."""
    rng = np.random.default_rng(seed)
    stats_by_label: dict[str, list] = {label: [] for label in EFFECT_LABELS}
    y_obs: list = []
    done = 0
    while done < n_mc:
        m = min(chunk, n_mc - done)
        eps = rng.standard_normal((m, 5))
        fresh = rng.standard_normal((m, 2))
        for label, values in _world_values(scm, eps, fresh, a, a_ref).items():
            stats_by_label[label].append((m, float(values.mean()), float(values.var(ddof=1))))
        y = scm.solve(eps)["Y"].to_numpy(dtype=float)
        y_obs.append((m, float(y.mean()), float(y.var(ddof=1))))
        done += m
    _, sd_y = _pooled(y_obs)
    rows = []
    for label in EFFECT_LABELS:
        mean, sd = _pooled(stats_by_label[label])
        rows.append((label, float(a), float(a_ref), mean, mean / sd_y, sd / math.sqrt(n_mc)))
    frame = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    frame.attrs.update(sd_y=sd_y, n_mc=n_mc, method="monte carlo")
    return frame


def _path_tracing_truth(scm: _LinearSCM, a: float, a_ref: float) -> pd.DataFrame:
    """Exact truths of the linear model: sums of path products times (a - a_ref)."""
    dag = DAG.from_syntax(MODEL)
    coef = scm.coef
    paths = dag.paths("X", "Y")

    def total(keep) -> float:
        out = 0.0
        for p in paths:
            if keep(p):
                out += math.prod(coef[child][parent] for parent, child in zip(p[:-1], p[1:]))
        return out * (a - a_ref)

    te = total(lambda p: True)
    via = {m: total(lambda p, m=m: m in p) for m in ("U", "W")}
    via_uw = total(lambda p: "U" in p or "W" in p)
    values = {
        "TE": te,
        "NDE via W": te - via["W"], "NIE via W": via["W"],
        "NDE via U": te - via["U"], "NIE via U": via["U"],
        "NDE via U+W": te - via_uw, "NIE via U+W": via_uw,
        "PART via U": via["U"], "PART via W": via_uw - via["U"], "PART direct": te - via_uw,
        # With no interactions the randomized draws change nothing in expectation.
        "rNDE via W": te - via["W"], "rNIE via W": via["W"],
        "rNDE via U": te - via["U"], "rNIE via U": via["U"],
    }
    frame = pd.DataFrame([(k, float(a), float(a_ref), values[k], values[k], 0.0) for k in EFFECT_LABELS],
                         columns=list(TRUTH_COLUMNS))
    frame.attrs.update(sd_y=1.0, n_mc=0, method="path tracing")
    return frame


def _enumeration_truth(scm: _DiscreteSCM, a: float, a_ref: float) -> pd.DataFrame:
    """Exact truths of the discrete model by summing over all values (probit probabilities).

    The identified effects use the g-formula (observational conditionals only).
    The cross-world NDE/NIE via W also need the joint law of U(a) and U(a*):
    in a threshold model sharing the noise e_U that law puts mass on the
    overlap of the two noise intervals (comonotone coupling).
    """
    phi = stats.norm.cdf
    cuts = np.concatenate([[-np.inf], scm.u_cuts, [np.inf]])
    levels_u = range(len(cuts) - 1)
    p_v = {0.0: phi(scm.v_cut), 1.0: 1.0 - phi(scm.v_cut)}

    def p_u(u, v, x):
        index = scm.u_index(v, x)
        return phi(cuts[u + 1] - index) - phi(cuts[u] - index)

    def p_u_joint(i, j, v, x1, x2):
        """P(U(x1) = i, U(x2) = j | v) with a shared noise."""
        i1, i2 = scm.u_index(v, x1), scm.u_index(v, x2)
        hi = min(cuts[i + 1] - i1, cuts[j + 1] - i2)
        lo = max(cuts[i] - i1, cuts[j] - i2)
        return max(phi(hi) - phi(lo), 0.0)

    def p_w(w, u, x):
        p1 = phi(scm.w_index(u, x))
        return p1 if w == 1 else 1.0 - p1

    def e_y(u, x, w):
        return phi(scm.y_index(u, x, w))

    def g_w(w, v, x):
        """P(W(x) = w | v): the distribution the randomized mediator is drawn from."""
        return sum(p_u(u, v, x) * p_w(w, u, x) for u in levels_u)

    def mean(term) -> float:
        return float(sum(p_v[v] * term(v) for v in p_v))

    def nested(x_y, x_u_y, x_w, x_u_w) -> float:
        """E[Y(x_y, U(x_u_y), W(x_w, U(x_u_w)))]."""
        def term(v):
            total = 0.0
            for i in levels_u:
                for j in levels_u:
                    pij = (p_u(i, v, x_u_y) if i == j else 0.0) if x_u_y == x_u_w else \
                        p_u_joint(i, j, v, x_u_y, x_u_w)
                    if pij:
                        total += pij * sum(p_w(w, j, x_w) * e_y(i, x_y, w) for w in (0, 1))
            return total
        return mean(term)

    def randomized_w(x_y, x_g) -> float:
        """E[Y(x_y, G)] with G a draw of W(x_g) given V and U at its own value under x_y."""
        return mean(lambda v: sum(g_w(w, v, x_g) * p_u(u, v, x_y) * e_y(u, x_y, w)
                                  for u in levels_u for w in (0, 1)))

    def randomized_u(x_y, x_g) -> float:
        """E[Y(x_y, H)] with H a draw of U(x_g) given V (W follows H under x_y)."""
        return mean(lambda v: sum(p_u(u, v, x_g) * p_w(w, u, x_y) * e_y(u, x_y, w)
                                  for u in levels_u for w in (0, 1)))

    y_a, y_s = nested(a, a, a, a), nested(a_ref, a_ref, a_ref, a_ref)
    y_not_w, y_not_u = nested(a, a, a_ref, a_ref), nested(a, a_ref, a, a_ref)
    y_direct = nested(a, a_ref, a_ref, a_ref)
    y_via_u, y_via_uw = nested(a_ref, a, a_ref, a), nested(a_ref, a, a, a)
    values = {
        "TE": y_a - y_s,
        "NDE via W": y_not_w - y_s, "NIE via W": y_a - y_not_w,
        "NDE via U": y_not_u - y_s, "NIE via U": y_a - y_not_u,
        "NDE via U+W": y_direct - y_s, "NIE via U+W": y_a - y_direct,
        "PART via U": y_via_u - y_s, "PART via W": y_via_uw - y_via_u, "PART direct": y_a - y_via_uw,
        "rNDE via W": randomized_w(a, a_ref) - randomized_w(a_ref, a_ref),
        "rNIE via W": randomized_w(a, a) - randomized_w(a, a_ref),
        "rNDE via U": randomized_u(a, a_ref) - randomized_u(a_ref, a_ref),
        "rNIE via U": randomized_u(a, a) - randomized_u(a, a_ref),
    }
    # SD of the observed binary Y: P(Y = 1) from the joint law of the two binary roots.
    cov = [[1.0, scm.rho], [scm.rho, 1.0]]
    p00 = stats.multivariate_normal(mean=[0.0, 0.0], cov=cov).cdf([scm.v_cut, scm.x_cut])
    p_vx = {(0.0, 0.0): p00, (0.0, 1.0): phi(scm.v_cut) - p00, (1.0, 0.0): phi(scm.x_cut) - p00}
    p_vx[(1.0, 1.0)] = 1.0 - sum(p_vx.values())
    p_y = sum(pvx * p_u(u, v, x) * p_w(w, u, x) * e_y(u, x, w)
              for (v, x), pvx in p_vx.items() for u in levels_u for w in (0, 1))
    sd_y = math.sqrt(p_y * (1.0 - p_y))
    frame = pd.DataFrame([(k, float(a), float(a_ref), values[k], values[k] / sd_y, 0.0) for k in EFFECT_LABELS],
                         columns=list(TRUTH_COLUMNS))
    frame.attrs.update(sd_y=sd_y, n_mc=0, method="enumeration")
    return frame


def _truth(scm: _SCM, a: float, a_ref: float, n_mc: int = 1_000_000, seed: int = 0) -> pd.DataFrame:
    """The exact truth where one exists (linear, discrete), else the Monte Carlo oracle."""
    if isinstance(scm, _LinearSCM):
        return _path_tracing_truth(scm, a, a_ref)
    if isinstance(scm, _DiscreteSCM):
        return _enumeration_truth(scm, a, a_ref)
    return _mc_truth(scm, a, a_ref, n_mc=n_mc, seed=seed)


_FLOAT_CONTRAST = {"a": "float64", "a_ref": "float64"}


@cache
def _shipped_truths() -> pd.DataFrame:
    frames = [pd.read_csv(_DATA / "dgp_truths.csv", dtype=_FLOAT_CONTRAST)]
    bundled = pd.read_csv(_DATA / "blau_duncan_truth.csv", dtype=_FLOAT_CONTRAST)
    frames.append(bundled.assign(dgp="blau_duncan")[["dgp", *TRUTH_COLUMNS, "sd_y", "n_mc"]])
    return pd.concat(frames, ignore_index=True)


@cache
def _default_truth(name: str) -> pd.DataFrame:
    """The truth table at the default contrast, from the shipped file (computed once, big MC)."""
    scm = _SCMS[name] if name in _SCMS else _MONOTONE_TWIN
    if isinstance(scm, (_LinearSCM, _DiscreteSCM)):
        return _truth(scm, *scm.default_contrast())
    table = _shipped_truths()
    rows = table[table["dgp"] == name]
    if rows.empty:  # pragma: no cover - the shipped files cover every model
        return _truth(scm, *scm.default_contrast())
    frame = rows[list(TRUTH_COLUMNS)].reset_index(drop=True)
    frame.attrs.update(sd_y=float(rows["sd_y"].iloc[0]), n_mc=int(rows["n_mc"].iloc[0]), method="monte carlo")
    return frame


# ============================================================== simulations
def _draw(scm: _SCM, n: int, seed: int | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Noise (n x 5 standard normals, one local generator) and the data it generates."""
    eps = np.random.default_rng(seed).standard_normal((n, 5))
    return eps, scm.solve(eps)


def _sample_truth(scm: _SCM, eps: np.ndarray, sd_y: float, a: float, a_ref: float, seed: int) -> pd.DataFrame:
    """Effects averaged over given units (their noise ``eps``), with their standard errors."""
    fresh = np.random.default_rng(seed).standard_normal((len(eps), 2))
    rows = []
    for label, values in _world_values(scm, eps, fresh, a, a_ref).items():
        mean = float(values.mean())
        rows.append((label, a, a_ref, mean, mean / sd_y, float(values.std(ddof=1)) / math.sqrt(len(eps))))
    return pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))


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


# ============================================================== bundled data
def blau_duncan_synthetic() -> pd.DataFrame:
    """The bundled synthetic Blau–Duncan data set (N = 20,700 men).

    Drawn from the ``"blau_duncan"`` model (see :data:`DGPS`) by
    ``data-raw/blau_duncan_synthetic.py`` (``simulate("blau_duncan", 20700,
    seed=1967)``). V and U are education codes 0–8; X, W and Y are SEI scores
    0–96; all are integers. Its correlations are within 0.03 of the published
    ones (:func:`blau_duncan_correlations`). Its true effects are in
    :func:`blau_duncan_truth`.

    Example:
        >>> from medflow.datasets import blau_duncan_synthetic
        >>> df = blau_duncan_synthetic()
        >>> df.shape, list(df.columns)
        ((20700, 5), ['V', 'X', 'U', 'W', 'Y'])
    """
    frame = pd.read_csv(_DATA / "blau_duncan_synthetic.csv", dtype="int64")
    frame.attrs["model"] = MODEL
    frame.attrs["source"] = ("synthetic: medflow's 'blau_duncan' structural causal model, "
                             f"simulate('blau_duncan', {_BUNDLED_N}, seed={_BUNDLED_SEED})")
    return frame


def blau_duncan_truth() -> pd.DataFrame:
    """True effects of X on Y in the model behind :func:`blau_duncan_synthetic`.

    For X at its 75th vs 25th population percentile, from 4 million Monte Carlo
    units with shared noise across worlds (``data-raw/blau_duncan_synthetic.py``).
    Columns ``label, a, a_ref, truth, truth_sd, mc_error`` (population truths;
    ``truth_sd`` divides by the population SD of Y) and ``sample_truth,
    sample_truth_sd``: the same effects averaged over the 20,700 bundled men with
    their own noise (SD units: the sample SD of Y). ``.attrs`` holds ``sd_y`` and
    ``n_mc``.

    Example:
        >>> from medflow.datasets import blau_duncan_truth
        >>> t = blau_duncan_truth().set_index("label")
        >>> bool(abs(t.loc["TE", "truth"] - t.loc["NDE via W", "truth"] - t.loc["NIE via W", "truth"]) < 1e-9)
        True
    """
    frame = pd.read_csv(_DATA / "blau_duncan_truth.csv", dtype=_FLOAT_CONTRAST)
    frame.attrs.update(sd_y=float(frame["sd_y"].iloc[0]), n_mc=int(frame["n_mc"].iloc[0]))
    return frame.drop(columns=["sd_y", "n_mc"])


def gss_status_attainment() -> pd.DataFrame:
    """Real status-attainment data: 1,501 men aged 25–64 from the General Social Survey.

    The first wave of the GSS panels that began in 2006, 2008 and 2010 (one row
    per respondent), men aged 25–64 with father's education, father's
    occupation, education and occupation all present; unweighted. Built by
    ``data-raw/gss_status_attainment.py`` from the extract described there (no
    row dropped or value recoded after the filters). The GSS never asked for
    the first job, so the Blau–Duncan W is absent and the model is
    :data:`GSS_MODEL` (``U ~ V + X; Y ~ U + X; V ~~ X``).

    Columns:
        * ``V`` — father's highest year of school completed (GSS PAEDUC, 0–20);
        * ``X`` — father's occupation, socioeconomic index (PASEI10, 2010 scores);
        * ``U`` — respondent's highest year of school completed (EDUC, 0–20);
        * ``Y`` — respondent's occupation, socioeconomic index (SEI10, 2010 scores);
        * ``year`` (2006, 2008, 2010), ``age`` (25–64), ``race`` (1 white, 2 black, 3 other);
        * ``papres10``, ``prestg10`` — father's and respondent's occupational prestige
          (2010 scores), alternatives to X and Y.

    ``.attrs`` holds ``model``, ``n``, ``source``, ``citation`` and ``labels`` (one
    description per column).

    Cite the GSS when you use these data: Smith, T. W., Davern, M., Freese, J., and
    Morgan, S. L. General Social Surveys, 1972–2024 [machine-readable data file].
    NORC at the University of Chicago.

    Example:
        >>> from medflow.datasets import gss_status_attainment
        >>> gss = gss_status_attainment()
        >>> gss.shape, list(gss.columns[:4])
        ((1501, 9), ['V', 'X', 'U', 'Y'])
        >>> round(float(gss["U"].corr(gss["Y"])), 3)
        0.599
    """
    path = _DATA / "gss_status_attainment.csv"
    meta = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, value = line[1:].split(":", 1)
        meta[key.strip()] = value.strip()
    frame = pd.read_csv(path, comment="#", dtype={"X": "float64", "Y": "float64"})
    frame.attrs["model"] = GSS_MODEL
    frame.attrs["n"] = int(meta["n"])
    frame.attrs["source"] = meta["source"]
    frame.attrs["citation"] = meta["citation"]
    frame.attrs["labels"] = {name: meta[name] for name in frame.columns}
    return frame
