"""Coverage of the flow's bootstrap intervals, run replication by replication.

The same study as ``python -m medflow.validation`` (bias, RMSE, coverage at 90 % and 95 %
with Monte Carlo SEs, interval width against the sampling spread), but each replication is
appended to ``<out>/results.csv`` as soon as it finishes and the designs are interleaved
(replication r of every design before replication r + 1), so a run stopped early still
gives a balanced, usable summary; a rerun with the same ``--out`` resumes where it stopped.

    python benchmarks/coverage_study.py --dgps nonlinear blau_duncan --n 2000 --reps 40 \\
        --boot 50 --out benchmarks/results/coverage_2000

``--summarize`` only rewrites ``summary.md``/``summary.json`` from what is there.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from medflow import validation as val


def _summarize(out: Path, meta: dict) -> str:
    results = pd.read_csv(out / "results.csv")
    summary = val.summarize(results)
    text = val.to_markdown(summary)
    load = os.getloadavg()
    text += (f"\nBootstrap refits per replication: {meta['boot']}; base seed {meta['seed']}; "
             f"load average at summary {load[0]:.1f}.\n"
             "Script: benchmarks/coverage_study.py (replications appended as they finish).\n")
    (out / "summary.md").write_text(text, encoding="utf-8")
    summary.to_json(out / "summary.json", orient="records", indent=1)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dgps", nargs="+", default=["nonlinear", "blau_duncan"])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--boot", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/coverage_2000")
    p.add_argument("--summarize", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(vars(args))
    if args.summarize:
        print(_summarize(out, meta))
        return
    done: set[tuple[str, int]] = set()
    path = out / "results.csv"
    if path.exists():
        prev = pd.read_csv(path)
        done = set(zip(prev["dgp"], prev["rep"]))
    for rep in range(args.reps):
        for dgp in args.dgps:
            if (dgp, rep) in done:
                continue
            t = time.perf_counter()
            res = val.run_replication(dgp, args.n, rep, seed=args.seed, n_boot=args.boot,
                                      threads=args.threads)
            res.to_csv(path, mode="a", header=not path.exists(), index=False)
            print(f"{dgp} rep {rep}: {time.perf_counter() - t:.0f} s", flush=True)
        (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(_summarize(out, meta))


if __name__ == "__main__":
    main()
