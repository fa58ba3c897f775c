"""Does a fixed seed give the same effects on another CPU? (reproducibility across machines)

A fit with a fixed seed is identical run to run on one machine (the tests check it). torch
picks its vectorised CPU kernels by what the processor supports (AVX-512, AVX2 or the
generic ones; the environment variable ``ATEN_CPU_CAPABILITY`` forces a lower one), and
those kernels round floating-point sums differently. Training amplifies last-bit
differences, so two machines with different instruction sets can end with different
weights. The matrix products go through Intel MKL, which picks its own code path by
processor (``MKL_CBWR`` pins it). This script measures by how much the effects move: it fits
the same data sets with the same seeds in fresh processes under each setting (and the
machine's own twice), and beside it with the next fit seed, so the kernels' difference can be
read against the seed spread the estimator already has.

    nice python benchmarks/cpu_kernels.py --reps 6
    python benchmarks/cpu_kernels.py --settings ATEN_CPU_CAPABILITY=avx2 --reps 2 --name k

Results: ``benchmarks/results/cpu_kernels.{json,md}`` (``--name`` changes the stem).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, environment, finish_environment, markdown_table  # noqa: E402

ESTIMANDS = ("TE", "NIE via U", "NDE via W")


def child(dgp: str, n: int, reps: int, seed_shift: int) -> list[dict]:
    """Fit ``reps`` data sets in this process; the effects' errors in SD(Y) units."""
    import torch

    import medflow as mf
    from bias_diagnosis import _data_seed, _effects

    torch.set_num_threads(1)
    rows = []
    for rep in range(reps):
        seed = _data_seed(dgp, n, rep)
        sim = mf.datasets.simulate(dgp, n, seed=seed)
        pop = sim.truth.set_index("label")["truth"]
        sd_y = float(sim.truth.attrs["sd_y"])
        fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete),
                            continuous=[v for v in sim.data.columns if v not in sim.discrete]
                            ).fit(seed=seed % (2**31) + seed_shift, verbose=False)
        est = _effects(fit, sim, flow_seed=seed % (2**31))
        rows.append(dict(rep=rep, capability=torch.backends.cpu.get_cpu_capability(),
                         best_epochs=fit.fit_info["best_epochs"],
                         **{lb: (est[lb] - float(pop[lb])) / sd_y for lb in ESTIMANDS}))
    return rows


#: environment variables that choose CPU code paths (cleared for the machine's own runs)
_KERNEL_VARS = ("ATEN_CPU_CAPABILITY", "MKL_CBWR")


def _run(run: str, setting: str | None, seed_shift: int, args) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for var in _KERNEL_VARS:
        env.pop(var, None)
    for item in (setting.split(",") if setting else []):
        var, _, value = item.partition("=")
        env[var] = value
    cmd = [sys.executable, __file__, "--child", "--dgp", args.dgp, "--n", str(args.n),
           "--reps", str(args.reps), "--seed-shift", str(seed_shift)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = json.loads(out.strip().splitlines()[-1])
    for r in rows:
        r["run"] = run
    print(f"{run}: {rows[0]['capability']}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dgp", default="nonlinear")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--settings", nargs="+",
                    default=["ATEN_CPU_CAPABILITY=avx2", "ATEN_CPU_CAPABILITY=default", "MKL_CBWR=COMPATIBLE",
                             "MKL_CBWR=AVX2", "ATEN_CPU_CAPABILITY=avx2,MKL_CBWR=AVX2"],
                    help="VAR=VALUE[,VAR=VALUE] environments to force (beside the machine's own)")
    ap.add_argument("--name", default="cpu_kernels")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed-shift", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.dgp, args.n, args.reps, args.seed_shift)))
        return 0
    env = environment(threads=1)   # the machine; every fit runs in a child process
    rows = _run("own", None, 0, args) + _run("own again", None, 0, args)
    for setting in args.settings:
        rows += _run(setting, setting, 0, args)
    rows += _run("own, next seed", None, 1, args)
    frame = pd.DataFrame(rows)
    own = frame[frame["run"] == "own"].set_index("rep")
    diffs = []
    for run, g in frame[frame["run"] != "own"].groupby("run", sort=False):
        d = g.set_index("rep")[list(ESTIMANDS)] - own[list(ESTIMANDS)]
        same_epochs = [a == b for a, b in zip(g.set_index("rep")["best_epochs"], own["best_epochs"])]
        diffs.append(dict(run=run, capability=g["capability"].iloc[0],
                          **{f"{lb} max |diff|": float(d[lb].abs().max()) for lb in ESTIMANDS},
                          **{f"{lb} rms diff": float(np.sqrt((d[lb] ** 2).mean())) for lb in ESTIMANDS},
                          same_best_epochs=f"{sum(same_epochs)} of {len(same_epochs)}"))
    diffs = pd.DataFrame(diffs)
    env = finish_environment(env)
    result = dict(environment=env, dgp=args.dgp, n=args.n,
                  reps=args.reps, own_capability=str(own["capability"].iloc[0]),
                  rows=rows, differences=diffs.to_dict("records"))
    out = RESULTS / args.name
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = ["# Same seed, other CPU kernels (`benchmarks/cpu_kernels.py`)", "",
             f"Started {env['started']}, load {env['loadavg_start']} -> {env['loadavg_end']}; `{args.dgp}`, "
             f"N = {args.n:,}, "
             f"data sets 0-{args.reps - 1} of the validation study, library defaults, one thread per "
             f"process. This machine's torch kernel: {result['own_capability']} ({env['cpu']}). Each run "
             "is a fresh process with the environment in `run`; "
             "differences are against the first run (`own`), in SD(Y) units.", "",
             markdown_table(diffs, 4), "", "## Every fit (error against the population truth)", "",
             markdown_table(frame[["run", "capability", "rep", *ESTIMANDS]], 4)]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
