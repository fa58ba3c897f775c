"""Copy ProPublica's COMPAS extract (Nabi & Shpitser 2018's filter) into the package.

Source: ``/work/shared/data/compas_two_year.csv`` (provenance in the README beside it):
5,278 African-American and Caucasian defendants screened by COMPAS in Broward County,
Florida, 2013-2014, filtered as ProPublica did (Angwin, Larson, Mattu and Kirchner 2016,
"Machine Bias"; compas-scores-two-years.csv of propublica/compas-analysis); names,
dates and case numbers removed. The script checks the columns and codes, then writes
``python/medflow/data/compas_two_year.csv`` (read by ``medflow.datasets.compas()``) and
``inst/extdata/compas_two_year.csv`` (for the R package's examples) unchanged.

    /work/main/.venv/bin/python data-raw/compas_two_year.py [source.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SOURCE = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/compas_two_year.csv")
TARGET = Path(__file__).resolve().parents[1] / "python" / "medflow" / "data" / "compas_two_year.csv"
COLUMNS = ["race", "sex", "age", "priors_count", "juv_fel_count", "juv_misd_count",
           "charge_felony", "decile_score", "two_year_recid"]

frame = pd.read_csv(SOURCE)
assert list(frame.columns) == COLUMNS, list(frame.columns)
assert len(frame) == 5278, len(frame)
assert not frame.isna().any().any()
for binary in ("race", "sex", "charge_felony", "two_year_recid"):
    assert set(frame[binary].unique()) <= {0, 1}, binary
assert frame["decile_score"].between(1, 10).all()
assert (frame[["age", "priors_count", "juv_fel_count", "juv_misd_count"]] >= 0).all().all()
for target in (TARGET, TARGET.parents[3] / "inst" / "extdata" / "compas_two_year.csv"):
    frame.to_csv(target, index=False)
    print(f"wrote {target} ({len(frame)} rows)")
