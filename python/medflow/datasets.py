"""Data for medflow: the Blau–Duncan numbers, a reader for OCG 1962 and simulated worlds.

* :func:`blau_duncan_correlations` — the published 5×5 correlation matrix
  (Blau & Duncan 1967, p. 169; N = 20,700).
* :func:`read_ocg1962` — reads a user's own copy of the OCG 1962 microdata
  (fixed-width layout of docs/design.md §1), which may not be redistributed.
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

This module holds the shipped data and the readers; the simulation designs live in
:mod:`medflow.simulation.designs` and their truth oracles in :mod:`medflow.simulation.truth`
(:func:`simulate`, :class:`Simulation`, :data:`DGPS` and :data:`MODEL` are re-exported here).

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

import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from medflow.simulation import Simulation, simulate
from medflow.simulation.designs import _NODES, DGPS, MODEL
from medflow.simulation.truth import _FLOAT_CONTRAST, EFFECT_LABELS, TRUTH_COLUMNS

__all__ = [
    "DGPS",
    "EFFECT_LABELS",
    "GSS_MODEL",
    "MODEL",
    "OCG1962_LAYOUT",
    "Simulation",
    "TRUTH_COLUMNS",
    "blau_duncan_correlations",
    "blau_duncan_synthetic",
    "blau_duncan_truth",
    "gss_status_attainment",
    "compas",
    "read_ocg1962",
    "simulate",
]


#: The model of the GSS data (:func:`gss_status_attainment`): the Blau–Duncan graph without the
#: first job W, which the GSS never asked for.
GSS_MODEL = "U ~ V + X; Y ~ U + X; V ~~ X"

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
#: 1-based, inclusive column ranges of the OCG 1962 fixed-width layout (docs/design.md §1).
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
