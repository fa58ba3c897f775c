"""Shared test fixtures.

``lavaan``: fits a model with R's lavaan through rpy2 and returns its parameter
table as a pandas DataFrame. Tests that use it are skipped, with the reason,
where rpy2, R or the lavaan package is missing (CI installs all three).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


class LavaanRunner:
    """Call ``lavaan::sem()`` from Python; numbers cross the boundary as plain vectors."""

    def __init__(self, ro):
        self._ro = ro

    def sem(self, model: str, data: pd.DataFrame | None = None, sample_cov: pd.DataFrame | None = None,
            sample_nobs: int | None = None, **options) -> pd.DataFrame:
        """``parameterEstimates(sem(model, ...), standardized = TRUE)`` as a DataFrame.

        ``options`` are passed to ``sem()`` (Python bool/str/int/float become R scalars); the
        columns are lhs, op, rhs, label, est, se, z, pvalue, std_all.
        """
        ro = self._ro
        args = {"model": ro.StrVector([model])}
        if data is not None:
            args["data"] = ro.DataFrame({c: ro.FloatVector(data[c].to_numpy(dtype=float))
                                         for c in data.columns})
        if sample_cov is not None:
            names = [str(c) for c in sample_cov.columns]
            mat = ro.r["matrix"](ro.FloatVector(sample_cov.to_numpy(dtype=float).ravel(order="F")),
                                 nrow=len(names))
            mat.rownames = ro.StrVector(names)
            mat.colnames = ro.StrVector(names)
            args["sample.cov"] = mat
            args["sample.nobs"] = ro.IntVector([int(sample_nobs)])
        for key, value in options.items():
            key = key.replace("_", ".")
            if isinstance(value, bool):
                args[key] = ro.BoolVector([value])
            elif isinstance(value, str):
                args[key] = ro.StrVector([value])
            elif isinstance(value, int):
                args[key] = ro.IntVector([value])
            else:
                args[key] = ro.FloatVector([float(value)])
        # do.call with the function's *name*: lavaan inspects its own call (match.call).
        run = ro.r("function(args) lavaan::parameterEstimates(do.call('sem', args), standardized = TRUE)")
        pe = run(ro.ListVector(args))
        cols = {"lhs": "lhs", "op": "op", "rhs": "rhs", "label": "label", "est": "est", "se": "se",
                "z": "z", "pvalue": "pvalue", "std.all": "std_all"}
        out = {}
        for r_name, py_name in cols.items():
            if r_name in pe.names:
                vec = pe.rx2(r_name)
                text = r_name in ("lhs", "op", "rhs", "label")
                out[py_name] = list(vec) if text else np.asarray(vec, dtype=float)
        return pd.DataFrame(out)


@pytest.fixture(scope="session")
def lavaan() -> LavaanRunner:
    """A :class:`LavaanRunner`; skips the test where rpy2, R or lavaan is absent."""
    try:
        import rpy2.robjects as ro
    except ImportError as err:  # rpy2 missing or R not found by rpy2
        pytest.skip(f"lavaan cross-check needs rpy2 and R: {err}")
    except Exception as err:  # pragma: no cover - R present but broken
        pytest.skip(f"lavaan cross-check: R could not be started through rpy2 ({err})")
    ok = bool(ro.r('isTRUE(suppressWarnings(requireNamespace("lavaan", quietly = TRUE)))')[0])
    if not ok:
        pytest.skip("lavaan cross-check: the R package lavaan is not installed")
    ro.r("suppressPackageStartupMessages(library(lavaan))")
    return LavaanRunner(ro)
