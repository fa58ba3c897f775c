"""Effect-query time and bootstrap time on a fitted Blau–Duncan-size model.

1. Fits the flow to ``simulate(dgp, 20700, seed)`` (settings below; by default
   ``medflow.training.LARGE_DATA_SETTINGS`` with ``hidden=16``, what the command line uses).
2. Times the effect queries (best and median of ``--repeats``): TE + NDE/NIE via W and via
   U (natural only), the same plus the interventional rNDE/rNIE (the target query, ≤ 1 s),
   and the sequential decomposition over (U, W).
3. Times a ``--n-boot`` replicate bootstrap (default 200; target ≤ 10 min), split into
   training the batched ensemble (``medflow.bootstrap.bootstrap_ensemble``) and the effect
   query over the ensemble (``fit.effects(..., n_boot=...)``, which reuses the cached
   ensemble), and records the interval of each effect and whether it covers the truth.
4. Bootstrap throughput (replicates per minute) for ``--throughput-reps`` replicates:
   the batched warm ensemble vs the same fine-tuning one replicate after another
   (``boot_options={"chunks": R, "n_jobs": 1}``), and a batched cold ensemble
   (``start="cold"``) vs cold refits from scratch on resampled rows, one after another
   (what a refit-per-replicate bootstrap does); all in one process.

Usage::

    python benchmarks/effects_speed.py --threads 1
    python benchmarks/effects_speed.py --quick          # smoke run (small bootstrap)

Writes ``benchmarks/results/effects_speed.{json,csv,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

import medflow as mf
from _common import effect_errors, environment, markdown_table, peak_rss_mb, timed, write_results
from medflow.bootstrap import bootstrap_ensemble, bootstrap_weights
from medflow.training import LARGE_DATA_FLOW, LARGE_DATA_SETTINGS


def time_query(fn, repeats: int) -> tuple[list[float], list[float], object]:
    times, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu, out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dgp", default="nonlinear")
    p.add_argument("--n", type=int, default=20700)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--batch-size", type=int, default=LARGE_DATA_SETTINGS["batch_size"])
    p.add_argument("--lr", type=float, default=LARGE_DATA_SETTINGS["lr"])
    p.add_argument("--patience", type=int, default=LARGE_DATA_SETTINGS["patience"])
    p.add_argument("--epochs", type=int, default=LARGE_DATA_SETTINGS["epochs"])
    p.add_argument("--hidden", type=int, default=LARGE_DATA_FLOW["hidden"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--boot-epochs", type=int, default=None, help="boot_options epochs (default: library's)")
    p.add_argument("--boot-patience", type=int, default=None)
    p.add_argument("--boot-batch-size", type=int, default=None)
    p.add_argument("--boot-chunks", type=int, default=None)
    p.add_argument("--boot-n-jobs", type=int, default=None, help="joblib workers for the chunks")
    p.add_argument("--boot-start", default=None, choices=["auto", "warm", "cold"],
                   help="boot_options start (default: library's, auto)")
    p.add_argument("--throughput-reps", type=int, default=10)
    p.add_argument("--cold-reps", type=int, default=3)
    p.add_argument("--skip-bootstrap", action="store_true")
    p.add_argument("--target-effects", type=float, default=1.0)
    p.add_argument("--target-bootstrap", type=float, default=600.0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: N=4000, 2 repeats, 10-replicate bootstrap with 3 epochs")
    p.add_argument("--name", default="effects_speed")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.n_boot, args.epochs = 4000, 2, 10, 10
        args.boot_epochs, args.throughput_reps, args.cold_reps = 3, 4, 2
        args.name = args.name + "_quick" if args.name == "effects_speed" else args.name
    env = environment(args.threads)
    boot_options = {k: v for k, v in dict(epochs=args.boot_epochs, patience=args.boot_patience,
                                          batch_size=args.boot_batch_size, chunks=args.boot_chunks,
                                          n_jobs=args.boot_n_jobs, start=args.boot_start).items()
                    if v is not None}
    fit_args = dict(batch_size=args.batch_size, lr=args.lr, patience=args.patience, epochs=args.epochs)

    sim = mf.datasets.simulate(args.dgp, args.n, args.seed)
    truth = sim.truth.set_index("label")
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
    # warm-up: one tiny fit pays the one-time costs (lazy imports, first kernel calls)
    mf.CausalFlow(sim.model, sim.data.iloc[:200], hidden=args.hidden).fit(epochs=1, verbose=False)
    tf: dict = {}
    with timed(tf, "fit"):
        fit = mf.CausalFlow(sim.model, sim.data, hidden=args.hidden).fit(seed=args.seed, verbose=False, **fit_args)
    fit_s = tf["fit_s"]
    print(f"[effects_speed] fit {fit_s:.1f} s ({fit.fit_info['epochs_run']} epochs)", flush=True)
    rows: list[dict] = []
    query = dict(a=a, a_ref=a_ref, seed=args.seed)

    queries = {
        "TE + NDE/NIE via W, via U": lambda: fit.effects("X", "Y", mediators=["W", "U"], interventional=False, **query),
        "TE + NDE/NIE + rNDE/rNIE via W, via U": lambda: fit.effects("X", "Y", mediators=["W", "U"], **query),
        "decompose (U, W)": lambda: fit.decompose("X", "Y", order=["U", "W"], **query),
    }
    results = {}
    for name, fn in queries.items():
        times, cpu, res = time_query(fn, args.repeats)
        results[name] = res
        rows.append(dict(kind="effects", what=name, best_s=min(times), median_s=statistics.median(times),
                         cpu_s=min(cpu),
                         repeats=args.repeats, n_units=args.n,
                         meets_target=min(times) <= args.target_effects))
        print(f"[effects_speed] {name}: best {min(times):.3f} s", flush=True)
    errs = effect_errors(results["TE + NDE/NIE + rNDE/rNIE via W, via U"].params.to_dict(), sim.truth,
                         labels=[lab for lab in truth.index if lab.startswith(("TE", "NDE", "NIE", "rNDE", "rNIE"))])

    extra: dict = dict(fit=dict(fit_s=fit_s, fit_cpu_s=tf["fit_cpu_s"], **fit.fit_info), effect_errors_sd=errs, args=vars(args))
    if not args.skip_bootstrap:
        # 1. the full bootstrap: train the batched ensemble, then the effect query over it
        rss0 = peak_rss_mb()
        tb: dict = {}
        with timed(tb, "train"):
            bootstrap_ensemble(fit, args.n_boot, seed=args.seed, verbose=False, **boot_options)
        with timed(tb, "effects"):
            res = fit.effects("X", "Y", mediators=["W", "U"], n_boot=args.n_boot, boot_options=boot_options,
                              verbose=False, **query)
        train_s, eff_s = tb["train_s"], tb["effects_s"]
        total = train_s + eff_s
        total_cpu = tb["train_cpu_s"] + tb["effects_cpu_s"]
        rows.append(dict(kind="bootstrap", what=f"{args.n_boot} replicates: train batched ensemble",
                         best_s=train_s, cpu_s=tb["train_cpu_s"], n_boot=args.n_boot))
        rows.append(dict(kind="bootstrap", what=f"{args.n_boot} replicates: effects over the ensemble",
                         best_s=eff_s, cpu_s=tb["effects_cpu_s"], n_boot=args.n_boot))
        rows.append(dict(kind="bootstrap", what=f"{args.n_boot} replicates: total", best_s=total,
                         cpu_s=total_cpu, n_boot=args.n_boot, meets_target=total <= args.target_bootstrap,
                         meets_target_cpu=total_cpu <= args.target_bootstrap,
                         cpu_s_per_200=total_cpu * 200 / args.n_boot,
                         peak_rss_mb=peak_rss_mb(), peak_rss_before_mb=rss0))
        print(f"[effects_speed] bootstrap {args.n_boot}: train {train_s:.1f} s + effects {eff_s:.1f} s",
              flush=True)
        frame = res.to_frame().set_index("label")
        cover = []
        for lab in frame.index:
            if lab in truth.index:
                t = float(truth.loc[lab, "truth"])
                cover.append(dict(label=lab, estimate=frame.loc[lab, "estimate"], truth=t,
                                  std_error=frame.loc[lab, "std_error"], ci_lower=frame.loc[lab, "ci_lower"],
                                  ci_upper=frame.loc[lab, "ci_upper"],
                                  covers=bool(frame.loc[lab, "ci_lower"] <= t <= frame.loc[lab, "ci_upper"])))
        extra["bootstrap_intervals"] = cover

        # 2. throughput, all in this process (one chunk, no workers, so CPU times compare):
        # the batched ensemble vs the same refits one after another, warm and cold.
        R, C = args.throughput_reps, args.cold_reps
        one = {**boot_options, "chunks": 1, "n_jobs": 1}
        tp: dict = {}
        with timed(tp, "batched warm ensemble"):
            bootstrap_ensemble(fit, R, seed=args.seed + 1, verbose=False, **{**one, "start": "warm"})
        with timed(tp, "sequential warm refits"):
            bootstrap_ensemble(fit, R, seed=args.seed + 1, verbose=False, **{**one, "start": "warm", "chunks": R})
        with timed(tp, "batched cold ensemble"):
            bootstrap_ensemble(fit, C, seed=args.seed + 2, verbose=False, **{**one, "start": "cold"})
        w = bootstrap_weights(len(sim.data), C, seed=args.seed + 2).long().numpy()
        with timed(tp, "sequential cold refits"):
            for r in range(C):
                rows_r = np.repeat(np.arange(len(sim.data)), w[r])
                mf.CausalFlow(sim.model, sim.data.iloc[rows_r].reset_index(drop=True), hidden=args.hidden).fit(
                    seed=args.seed + r, verbose=False, **fit_args)
        # members trained: a warm chunk adds its control member, so R one-replicate chunks train 2R
        reps = {"batched warm ensemble": (R, R + 1), "sequential warm refits": (R, 2 * R),
                "batched cold ensemble": (C, C), "sequential cold refits": (C, C)}
        for name, (k, members) in reps.items():
            secs, cpu = tp[f"{name}_s"], tp[f"{name}_cpu_s"]
            rows.append(dict(kind="throughput", what=name, best_s=secs, cpu_s=cpu, n_boot=k,
                             members_trained=members, s_per_member=secs / members,
                             replicates_per_min=60.0 * k / secs, replicates_per_cpu_min=60.0 * k / cpu))
        per = {name: tp[f"{name}_s"] / m for name, (_, m) in reps.items()}  # wall s per member trained
        extra["throughput_speedup_warm"] = per["sequential warm refits"] / per["batched warm ensemble"]
        extra["throughput_speedup_cold"] = per["sequential cold refits"] / per["batched cold ensemble"]

    df = pd.DataFrame(rows)
    md = [f"Model fitted to simulate({args.dgp!r}, {args.n}, {args.seed}) in {fit_s:.1f} s "
          f"({tf['fit_cpu_s']:.1f} CPU s) "
          f"({fit.fit_info['epochs_run']} epochs; batch {args.batch_size}, lr {args.lr:g}, patience "
          f"{args.patience}, hidden {args.hidden}). Contrast X = {a:.3f} vs {a_ref:.3f}. "
          f"Targets: effects ≤ {args.target_effects:g} s, {args.n_boot}-replicate bootstrap ≤ "
          f"{args.target_bootstrap:g} s. boot_options = {boot_options}.", "",
          "Times in s: best_s / median_s wall clock, cpu_s = this process's CPU time.", "",
          markdown_table(df, 3), ""]
    md.append("Errors of the point estimates (SD(Y) units): "
              + ", ".join(f"{k} {v:+.3f}" for k, v in errs.items()) + ".")
    if "bootstrap_intervals" in extra:
        cov = pd.DataFrame(extra["bootstrap_intervals"])
        md += ["", f"Bootstrap intervals (90%) against the truth:", "", markdown_table(cov, 4)]
        md.append(f"\nBatched ensemble vs the same refits one after another (wall seconds per member trained, "
                  f"one process): {extra['throughput_speedup_warm']:.2f}× (warm-started fine-tuning), "
                  f"{extra['throughput_speedup_cold']:.2f}× (cold refits; the sequential ones are "
                  f"CausalFlow.fit on the resampled rows).")
    return write_results(args.name, env, rows, "\n".join(md), extra=extra)


if __name__ == "__main__":
    main()
