"""Build python/medflow/data/gss_status_attainment.csv from the shared GSS extract.

Source: the General Social Survey (GSS) panels that began in 2006, 2008 and
2010, first wave only (one row per respondent), as distributed with the gssr R
package (data/gss_panel06_long.rda, gss_panel08_long.rda, gss_panel10_long.rda).
The extract ``gss_men_2006_2010.csv`` (and its provenance README) was made from
those files with these filters:

* SEX = male, 25 <= AGE <= 64;
* PAEDUC, PASEI10, EDUC and SEI10 all present (complete cases);
* no weights (the rows are unweighted respondents).

This script only renames, orders and checks; it drops and recodes nothing:

=========  =========  ===========================================================
column     GSS        meaning
=========  =========  ===========================================================
V          PAEDUC     father's highest year of school completed (0-20)
X          PASEI10    father's occupation, socioeconomic index (2010 scores)
U          EDUC       respondent's highest year of school completed (0-20)
Y          SEI10      respondent's occupation, socioeconomic index (2010 scores)
year       YEAR       survey year of the first wave (2006, 2008, 2010)
age        AGE        respondent's age in years (25-64)
race       RACE       1 white, 2 black, 3 other
papres10   PAPRES10   father's occupational prestige (2010 scores), alternative X
prestg10   PRESTG10   respondent's occupational prestige (2010 scores), alternative Y
=========  =========  ===========================================================

The GSS never asked for the first job, so the Blau-Duncan W is absent and the
model is ``U ~ V + X; Y ~ U + X; V ~~ X``. The panel respondent id (FIRSTID) is
not shipped.

The CSV starts with ``# key: value`` lines (source, citation, n, one line per
column); read it with ``comment="#"`` (R: ``read.csv(..., comment.char = "#")``).
Python reads it in ``medflow.datasets.gss_status_attainment()`` and
``data-raw/r_data.R`` builds the R data set ``gss_status_attainment`` from it.
Run from the repository root (the extract is not needed at run time)::

    python data-raw/gss_status_attainment.py [path/to/gss_men_2006_2010.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FILE = Path("/work/shared/data/gss_men_2006_2010.csv")
OUT = ROOT / "python" / "medflow" / "data" / "gss_status_attainment.csv"

#: Extract column -> shipped column, in the shipped order.
RENAME = {"paeduc": "V", "pasei10": "X", "educ": "U", "sei10": "Y", "year": "year", "age": "age",
          "race": "race", "papres10": "papres10", "prestg10": "prestg10"}
LABELS = {
    "V": "father's highest year of school completed (GSS PAEDUC, 0-20)",
    "X": "father's occupation, socioeconomic index (GSS PASEI10, 2010 scores)",
    "U": "respondent's highest year of school completed (GSS EDUC, 0-20)",
    "Y": "respondent's occupation, socioeconomic index (GSS SEI10, 2010 scores)",
    "year": "survey year of the panel's first wave (GSS YEAR: 2006, 2008, 2010)",
    "age": "respondent's age in years (GSS AGE, 25-64)",
    "race": "respondent's race (GSS RACE: 1 white, 2 black, 3 other)",
    "papres10": "father's occupational prestige (GSS PAPRES10, 2010 scores)",
    "prestg10": "respondent's occupational prestige (GSS PRESTG10, 2010 scores)",
}
SOURCE = ("General Social Survey panels 2006, 2008 and 2010, first wave (gssr R package); men aged "
          "25-64 with father's education, father's SEI, education and SEI all present; unweighted")
CITATION = ("Smith, T. W., Davern, M., Freese, J., and Morgan, S. L. General Social Surveys, 1972-2024 "
            "[machine-readable data file]. NORC at the University of Chicago")
N = 1501
#: Correlations published in the extract's provenance README (N = 1,501), rounded to 3 decimals.
README_CORRELATIONS = {("V", "X"): 0.576, ("V", "U"): 0.533, ("X", "U"): 0.379, ("U", "Y"): 0.599,
                       ("X", "Y"): 0.328, ("V", "Y"): 0.384}


def build(path: Path = SOURCE_FILE) -> pd.DataFrame:
    """The shipped table from the extract: renamed and checked, no row dropped."""
    raw = pd.read_csv(path)
    missing = [c for c in RENAME if c not in raw.columns]
    if missing:
        raise SystemExit(f"{path} lacks the column(s) {', '.join(missing)}.")
    data = raw[list(RENAME)].rename(columns=RENAME)
    checks = {
        "1,501 rows": len(data) == N,
        "no missing values": not data.isna().any().any(),
        "one row per respondent": not raw.duplicated(["year", "firstid"]).any(),
        "years 2006/2008/2010": set(data["year"]) == {2006, 2008, 2010},
        "ages 25-64": data["age"].between(25, 64).all(),
        "race codes 1-3": set(data["race"]) <= {1, 2, 3},
        "schooling 0-20": data[["V", "U"]].stack().between(0, 20).all(),
        "SEI 0-100": data[["X", "Y"]].stack().between(0, 100).all(),
        "prestige 0-100": data[["papres10", "prestg10"]].stack().between(0, 100).all(),
    }
    r = data[["V", "X", "U", "Y"]].corr()
    checks["correlations of the README"] = all(
        abs(r.loc[a, b] - value) <= 5e-4 for (a, b), value in README_CORRELATIONS.items())
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise SystemExit(f"{path} fails the checks: {', '.join(failed)}.")
    for name in ("V", "U", "year", "age", "race", "papres10", "prestg10"):
        if not np.all(data[name] == np.round(data[name])):
            raise SystemExit(f"{path}: column {name} should hold whole numbers.")
        data[name] = data[name].astype("int64")
    data[["X", "Y"]] = data[["X", "Y"]].astype("float64")
    return data


def text(data: pd.DataFrame) -> str:
    """The CSV text: ``# key: value`` lines, then the table."""
    header = [f"# source: {SOURCE}", f"# citation: {CITATION}", f"# n: {len(data)}"]
    header += [f"# {name}: {label}" for name, label in LABELS.items()]
    return "\n".join(header) + "\n" + data.to_csv(index=False, lineterminator="\n", float_format="%.1f")


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else SOURCE_FILE
    data = build(path)
    OUT.write_text(text(data), encoding="utf-8")
    print(f"wrote {OUT} ({len(data):,} rows)")


if __name__ == "__main__":
    main(sys.argv[1:])
