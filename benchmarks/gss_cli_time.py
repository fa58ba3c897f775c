"""Wall-clock time of the real-data command ``medflow blau-duncan --data gss`` (issue 18).

Runs the command end to end in a fresh Python process (start-up, data, classical
coefficients, linear SEM, flow fit, effects with bootstrap intervals, report folder),
as a user would, and records its wall-clock time, the child process's CPU time, the
step timings the command prints and its effect estimates. The target is 180 s on the
shared 2-core machine with the default ``--boot`` (``medflow.cli.GSS_BOOT``).

    nice -n 5 python benchmarks/gss_cli_time.py                 # the default --boot
    nice -n 5 python benchmarks/gss_cli_time.py --boot 0 10 40  # several bootstrap sizes

Writes ``results/gss_cli_time.{json,md}`` (``--name`` to change).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, write_results  # noqa: E402

TARGET_S = 180.0


def run_once(boot: int | None, seed: int, threads: int) -> dict:
    """One run of the command; ``boot=None`` leaves ``--boot`` at its default."""
    from medflow.cli import GSS_BOOT

    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "medflow.cli", "blau-duncan", "--data", "gss", "--out", tmp,
                "--no-progress", "--seed", str(seed), "--threads", str(threads)]
        if boot is not None:
            argv += ["--boot", str(boot)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy())
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"the command failed ({proc.returncode}):\n{proc.stderr}")
        effects = pd.read_csv(Path(tmp) / "effects.csv")
    total = re.search(r"Total time ([0-9.]+) s \((.*)\)\.", proc.stdout)
    steps = dict((k, float(v)) for k, v in re.findall(r"([a-zA-Z ]+?) ([0-9.]+) s(?:,|$)", total.group(2)))
    row = dict(boot=GSS_BOOT if boot is None else boot, boot_is_default=boot is None, seed=seed,
               wall_s=round(wall, 2),
               cpu_s=round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2),
               reported_total_s=float(total.group(1)), under_target=wall <= TARGET_S)
    row.update({f"{k.strip().replace(' ', '_')}_s": v for k, v in steps.items()})
    flow = effects[effects["method"] == "flow"].set_index("label")
    for label in ("TE", "NDE via U", "NIE via U"):
        row[f"flow_{label.replace(' ', '_')}_sd"] = round(float(flow.loc[label, "estimate_sd"]), 4)
        row[f"flow_{label.replace(' ', '_')}_ci"] = (
            f"[{flow.loc[label, 'ci_lower_sd']:.3f}, {flow.loc[label, 'ci_upper_sd']:.3f}]")
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boot", type=int, nargs="*", default=None,
                        help="bootstrap sizes to time (default: only the command's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="gss_cli_time")
    args = parser.parse_args(argv)
    env = environment(args.threads)
    rows = [run_once(b, args.seed, args.threads) for b in (args.boot or [None])]
    for row in rows:
        print(f"--boot {row['boot']}: {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU", file=sys.stderr)
    table = pd.DataFrame(rows)
    md = (f"`medflow blau-duncan --data gss` end to end in a fresh process (N = 1,501), one torch "
          f"thread, seed {args.seed}; target {TARGET_S:.0f} s wall clock.\n\n" + markdown_table(table))
    write_results(args.name, env, rows, md)


if __name__ == "__main__":
    main()
