"""medflow side by side with cGNF 1.0.0 (the authors' implementation, from PyPI).

Same data, same machine, same run. For each N in ``--sizes`` (default 2,000 and 20,700):

* data: ``medflow.datasets.simulate("nonlinear", N, seed)`` — the Blau–Duncan DAG with the
  exposure-induced confounder U (X → U → W, U → Y), interactions and skewed noise — plus
  ``--n-test`` held-out rows from the same model; both are written to CSV for cGNF, with
  the DAG as cGNF's adjacency CSV (row = parent, column = child; V ~~ X entered as V → X,
  which docs/design.md §1 notes is equivalent for a flow);
* cGNF: ``process`` → ``train`` → ``sim`` with its documented defaults (the defaults of
  ``cGNF.train``: batch 128, lr 1e-4, embedding net [100, 90, 80, 70, 60], integrand net
  [60, 50, 40, 30, 20], early stopping after 50 epochs without improvement, 80/20 split;
  ``sim`` with 10,000 Monte Carlo draws) except an epoch cap ``--cgnf-epochs`` so that the
  benchmark ends. It runs in a subprocess with cGNF's own virtualenv
  (``benchmarks/.venv-cgnf``: torch==2.13.0 installed first, then ``cgnf==1.0.0``), which
  this script creates when it is missing;
* medflow: ``CausalFlow(...).fit(...)`` with the settings given (default: what ``medflow
  fit`` uses for N rows, the library's automatic settings) and ``fit.effects(..., mediators=...)`` (natural effects only);
* both: training time, end-to-end time, held-out NLL per row in the data's original units,
  and the error of TE and NDE/NIE via each mediator against the simulation's truths
  (population SD(Y) units), at the truths' contrast (X's 75th vs 25th percentile).

Ratios are cGNF / medflow for times and cGNF − medflow for NLL (positive = medflow better).

Usage::

    python benchmarks/cgnf_compare.py --threads 1                     # N = 2,000 and 20,700
    python benchmarks/cgnf_compare.py --sizes 2000 --cgnf-epochs 20
    python benchmarks/cgnf_compare.py --quick                         # N = 2,000, 2 cGNF epochs

Writes ``benchmarks/results/cgnf_compare.{json,md}``; cGNF's own files go to a
temporary folder (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import medflow as mf
from _common import effect_errors, environment, heldout_nll, markdown_table, set_threads, timed, write_results

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-cgnf"
TORCH_PIN = "torch==2.13.0"
CGNF_PIN = "cgnf==1.0.0"


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_cgnf_venv(venv: Path = VENV) -> Path:
    """Create cGNF's virtualenv when missing: torch pinned first, then cGNF 1.0.0."""
    py = venv_python(venv)
    check = [str(py), "-c", "import cGNF, torch; from importlib.metadata import version; "
             "print(version('cGNF'), torch.__version__)"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return py
    print(f"[cgnf_compare] creating {venv} ({TORCH_PIN}, then {CGNF_PIN})", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    subprocess.run(pip + [TORCH_PIN], check=True)
    subprocess.run(pip + [CGNF_PIN], check=True)
    subprocess.run(check, check=True)
    return py


def adjacency(model: str, columns: list[str]) -> pd.DataFrame:
    """cGNF's DAG file: row = parent, column = child; ``~~`` between roots becomes an edge."""
    dag = mf.DAG.from_syntax(model).with_correlations_as_edges()
    adj = pd.DataFrame(0, index=columns, columns=columns)
    for child in columns:
        for parent in dag.parents[child]:
            adj.loc[parent, child] = 1
    return adj


def run_cgnf(py: Path, job: dict, workdir: Path) -> dict:
    job_file = workdir / "job.json"
    job_file.write_text(json.dumps(job))
    t0 = time.perf_counter()
    proc = subprocess.run([str(py), str(HERE / "_cgnf_runner.py"), str(job_file)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (workdir / "cgnf_stdout.log").read_text()[-2000:] if (workdir / "cgnf_stdout.log").exists() else ""
        raise RuntimeError(f"cGNF failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}\n{tail}")
    out = json.loads(job_file.read_text())
    out["subprocess_s"] = wall  # includes interpreter start and imports
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20700])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--mediators", nargs="+", default=["W", "U"])
    p.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    p.add_argument("--cgnf-epochs", type=int, nargs="+", default=[50],
                   help="cGNF epoch cap, one value for all sizes or one per size")
    p.add_argument("--cgnf-n-mce", type=int, default=10000, help="cGNF sim() Monte Carlo draws (its default)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the command line's for N")
    p.add_argument("--lr", type=float, default=None, help="default: the command line's for N")
    p.add_argument("--patience", type=int, default=None, help="default: the command line's for N")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None, help="default: the command line's for N")
    p.add_argument("--keep", action="store_true", help="keep cGNF's working folder")
    p.add_argument("--quick", action="store_true", help="smoke run: N=2000, 2 cGNF epochs, 2000 draws")
    p.add_argument("--name", default="cgnf_compare")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.cgnf_epochs, args.cgnf_n_mce, args.n_test = [2000], [2], 2000, 2000
        args.name = args.name + "_quick" if args.name == "cgnf_compare" else args.name
    caps = args.cgnf_epochs * len(args.sizes) if len(args.cgnf_epochs) == 1 else args.cgnf_epochs
    if len(caps) != len(args.sizes):
        p.error("--cgnf-epochs takes one value or one per size")
    env = environment(args.threads)
    py = ensure_cgnf_venv()
    set_threads(args.threads)
    # warm-up: one tiny fit pays medflow's one-time costs (cGNF's imports are not timed either)
    warm = mf.datasets.simulate("nonlinear", 200, 0)
    mf.CausalFlow(warm.model, warm.data).fit(epochs=1, verbose=False)
    rows, details = [], []
    for n, cap in zip(args.sizes, caps):
        sim = mf.datasets.simulate("nonlinear", n, args.seed)
        test = mf.datasets.simulate("nonlinear", args.n_test, 10_000 + args.seed).data
        truth = sim.truth.set_index("label")
        a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
        labels = ["TE"] + [f"{k} via {m}" for m in args.mediators for k in ("NDE", "NIE")]

        # ---- medflow
        set_threads(args.threads)
        t: dict = {}
        settings = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                          patience=args.patience).items() if v is not None}
        flow_config = {} if args.hidden is None else dict(hidden=args.hidden)
        with timed(t, "train"):
            fit = mf.CausalFlow(sim.model, sim.data, **flow_config).fit(seed=args.seed, verbose=False,
                                                                        **settings)
        with timed(t, "effects"):
            res = fit.effects("X", "Y", mediators=args.mediators, a=a, a_ref=a_ref, interventional=False,
                              seed=args.seed)
        mf_err = effect_errors(res.params.to_dict(), sim.truth, labels)
        mf_row = dict(method="medflow", n=n, epochs_run=fit.fit_info["epochs_run"],
                      train_s=t["train_s"], train_cpu_s=t["train_cpu_s"], effects_s=t["effects_s"],
                      effects_cpu_s=t["effects_cpu_s"], total_s=t["train_s"] + t["effects_s"],
                      total_cpu_s=t["train_cpu_s"] + t["effects_cpu_s"],
                      s_per_epoch=t["train_s"] / fit.fit_info["epochs_run"],
                      heldout_nll=heldout_nll(fit, test),
                      **{f"err[{k}]": v for k, v in mf_err.items()})

        # ---- cGNF (its own venv, its files on disk)
        workdir = Path(tempfile.mkdtemp(prefix=f"cgnf_n{n}_"))
        try:
            sim.data.to_csv(workdir / "nonlinear.csv", index=False)
            adjacency(sim.model, list(sim.data.columns)).to_csv(workdir / "dag.csv")
            test.to_csv(workdir / "test.csv", index=False)
            job = dict(workdir=str(workdir), dataset="nonlinear", dag="dag", test_csv=str(workdir / "test.csv"),
                       seed=args.seed, epochs=cap, n_mce=args.cgnf_n_mce, a=a, a_ref=a_ref, treatment="X",
                       outcome="Y", mediators=args.mediators, threads=args.threads, train_args={})
            print(f"[cgnf_compare] N={n}: medflow done ({mf_row['total_s']:.1f} s); running cGNF "
                  f"(cap {cap} epochs) ...", flush=True)
            cg = run_cgnf(py, job, workdir)
        finally:
            if args.keep:
                print(f"[cgnf_compare] cGNF files kept in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        cg_err = effect_errors(cg["effects"], sim.truth, labels)
        cg_row = dict(method=f"cGNF {cg['cgnf_version']}", n=n, epochs_run=cg["epochs_run"],
                      epoch_cap=cap, train_s=cg["train_s"], train_cpu_s=cg["train_cpu_s"],
                      effects_s=cg["sim_s"], effects_cpu_s=cg["sim_cpu_s"],
                      total_s=cg["process_s"] + cg["train_s"] + cg["sim_s"],
                      total_cpu_s=cg["process_cpu_s"] + cg["train_cpu_s"] + cg["sim_cpu_s"],
                      s_per_epoch=cg["train_s"] / max(cg["epochs_run"], 1), heldout_nll=cg["heldout_nll"],
                      **{f"err[{k}]": v for k, v in cg_err.items()})
        for r in (mf_row, cg_row):
            errs = [abs(v) for k, v in r.items() if k.startswith("err[")]
            r["max_abs_err"], r["rms_err"] = max(errs), float(np.sqrt(np.mean(np.square(errs))))
        ratio = dict(method="ratio cGNF/medflow", n=n,
                     train_s=cg_row["train_s"] / mf_row["train_s"],
                     train_cpu_s=cg_row["train_cpu_s"] / mf_row["train_cpu_s"],
                     effects_s=cg_row["effects_s"] / mf_row["effects_s"],
                     effects_cpu_s=cg_row["effects_cpu_s"] / mf_row["effects_cpu_s"],
                     total_s=cg_row["total_s"] / mf_row["total_s"],
                     total_cpu_s=cg_row["total_cpu_s"] / mf_row["total_cpu_s"],
                     s_per_epoch=cg_row["s_per_epoch"] / mf_row["s_per_epoch"],
                     heldout_nll=cg_row["heldout_nll"] - mf_row["heldout_nll"],
                     max_abs_err=cg_row["max_abs_err"] / mf_row["max_abs_err"],
                     rms_err=cg_row["rms_err"] / mf_row["rms_err"])
        rows += [mf_row, cg_row, ratio]
        details.append(dict(n=n, a=a, a_ref=a_ref, truth=truth["truth"].to_dict(),
                            medflow_estimates=res.params.to_dict(), medflow_fit=fit.fit_info,
                            medflow_settings=dict(settings, **flow_config),
                            cgnf=cg))
        print(f"[cgnf_compare] N={n}: medflow {mf_row['total_s']:.1f} s, cGNF {cg_row['total_s']:.1f} s "
              f"(x{ratio['total_s']:.0f}); NLL {mf_row['heldout_nll']:.3f} vs {cg_row['heldout_nll']:.3f}",
              flush=True)
        out = _write(args, env, rows, details, caps)  # after every size: a long run keeps what it measured
    return out


def _write(args, env, rows, details, caps) -> dict:
    df = pd.DataFrame(rows)
    err_cols = [c for c in df.columns if c.startswith("err[")]
    cols = ["method", "n", "epochs_run", "train_s", "train_cpu_s", "effects_s", "total_s", "total_cpu_s",
            "s_per_epoch", "heldout_nll", "max_abs_err", "rms_err"]
    md = (f"cGNF 1.0.0 with the defaults of `cGNF.train` (batch 128, lr 1e-4, nets [100,90,80,70,60] / "
          f"[60,50,40,30,20], early stop 50) capped at {', '.join(f'{c} epochs (N = {n})' for n, c in zip(args.sizes, caps))}; "
          f"`sim` with {args.cgnf_n_mce} draws, one call per mediator ({', '.join(args.mediators)}). "
          f"medflow: the command line's settings for N ({'; '.join(str(d['medflow_settings']) for d in details)}); "
          f"effects over the N observed units. Same data (simulate('nonlinear', N, "
          f"{args.seed})), same held-out rows ({args.n_test}), torch threads {env['torch_threads']} for both. "
          f"Times in s (wall; *_cpu_s = process CPU). NLL in nats/row, original units. Errors in SD(Y) units. "
          f"Ratio rows: cGNF / medflow (times, errors), cGNF − medflow (NLL; > 0 means medflow fits better).\n\n"
          + markdown_table(df[cols], 3) + "\n\nErrors per estimand (estimate − truth, SD(Y)):\n\n"
          + markdown_table(df.loc[df["method"] != "ratio cGNF/medflow", ["method", "n"] + err_cols], 3))
    done = [d["n"] for d in details]
    return write_results(args.name, env, rows, md, extra=dict(details=details, args=vars(args), sizes_done=done,
                                                                cgnf_epoch_caps=dict(zip(map(str, args.sizes), caps))))


if __name__ == "__main__":
    main()
