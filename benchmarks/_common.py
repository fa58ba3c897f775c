"""Shared helpers for the benchmark scripts (not part of the medflow package).

Every benchmark records the machine state next to its numbers: the 1/5/15-minute
load averages at start and end (``os.getloadavg``), the CPU count and torch's
intra-op thread count. On a shared machine the load average is the first thing
to read before comparing timings.

Results go to ``benchmarks/results/<name>.json`` (everything, with one record per
measurement under ``rows``) and ``<name>.md`` (a markdown summary), and the JSON is
printed to standard output.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "RESULTS", "EFFECT_LABELS", "environment", "finish_environment", "cpu_model", "set_threads", "timed",
    "peak_rss_mb", "heldout_nll", "effect_errors", "write_results", "markdown_table", "fmt",
]

RESULTS = Path(__file__).resolve().parent / "results"

#: Effects compared against the simulation truths (labels shared with medflow.datasets).
EFFECT_LABELS = ("TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U")


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (``None``: torch's default, as at import, even after an
    earlier call set another count); returns the count in use."""
    import torch

    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    torch.set_num_threads(int(threads) if threads is not None else _TORCH_DEFAULT_THREADS)
    return torch.get_num_threads()


_TORCH_DEFAULT_THREADS: int | None = None


def cpu_model() -> str:
    """The processor's name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def environment(threads: int | None = None) -> dict:
    """Machine, library versions and load at the start of a benchmark."""
    import torch

    import medflow

    return dict(
        started=_dt.datetime.now().isoformat(timespec="seconds"),
        python=platform.python_version(),
        platform=platform.platform(),
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        torch=torch.__version__,
        torch_threads=set_threads(threads),
        medflow=medflow.__version__,
        loadavg_start=[round(x, 2) for x in os.getloadavg()],
        argv=sys.argv[1:],
    )


def finish_environment(env: dict) -> dict:
    """Add the end time, the load at the end and this process's peak memory."""
    env = dict(env)
    env["finished"] = _dt.datetime.now().isoformat(timespec="seconds")
    env["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    env["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return env


@contextlib.contextmanager
def timed(store: dict, key: str):
    """``with timed(d, "fit"):`` stores wall-clock seconds in ``d["fit_s"]`` and this process's
    CPU seconds (user + system, all threads) in ``d["fit_cpu_s"]``.

    On a shared machine the wall time grows with the load while the CPU time barely does:
    with one torch thread, CPU seconds approximate the wall time on an idle machine.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        store[f"{key}_s"] = time.perf_counter() - t0
        store[f"{key}_cpu_s"] = time.process_time() - c0


def peak_rss_mb() -> float:
    """Peak resident memory of this process (``getrusage`` maxrss; kilobytes on Linux)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def heldout_nll(fit, frame: pd.DataFrame) -> float:
    """Mean negative log-likelihood per row (nats, original units) of held-out rows."""
    return float(-np.mean(fit.log_prob(frame)))


def effect_errors(estimates: Mapping[str, float], truth: pd.DataFrame,
                  labels: Iterable[str] = EFFECT_LABELS) -> dict[str, float]:
    """Estimate minus truth, in population SD(Y) units, for each label present in both.

    ``truth`` is a :class:`medflow.datasets.Simulation` truth table (``label``, ``truth``,
    ``truth_sd``); SD(Y) is recovered as ``truth / truth_sd``.
    """
    t = truth.set_index("label")
    nonzero = t["truth_sd"].abs() > 0
    sd_y = float((t.loc[nonzero, "truth"] / t.loc[nonzero, "truth_sd"]).iloc[0])
    return {lab: (float(estimates[lab]) - float(t.loc[lab, "truth"])) / sd_y
            for lab in labels if lab in estimates and lab in t.index}


def fmt(x, digits: int = 3) -> str:
    """Compact number formatting for markdown tables (``nan`` → ``–``)."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            return "–"
        if float(x).is_integer() and abs(x) >= 1:
            return str(int(x))
        return f"{x:.{digits}f}"
    return str(x)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table of ``frame`` (no external dependency such as tabulate)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    return obj


def write_results(name: str, env: dict, rows: list[dict], summary_md: str,
                  extra: Mapping | None = None, out_dir: Path | None = None) -> dict:
    """Write ``<name>.json`` and ``<name>.md``; print the JSON; return it."""
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = finish_environment(env)
    payload = _jsonable(dict(benchmark=name, environment=env, rows=rows, **(extra or {})))
    (out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    load = (f"load average (1/5/15 min) at start {env['loadavg_start']}, at end {env['loadavg_end']}; "
            f"{env['cpu_count']} CPUs; torch {env['torch']} with {env['torch_threads']} intra-op "
            f"thread(s); peak RSS {env['peak_rss_mb']} MB")
    md = f"# {name}\n\n_{env['started']} → {env['finished']}; {load}._\n\n{summary_md.strip()}\n"
    (out_dir / f"{name}.md").write_text(md)
    print(json.dumps(payload, indent=2))
    return payload
