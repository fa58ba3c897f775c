"""Effect-query time and bootstrap time on a fitted Blau–Duncan-size model.

1. Fits the flow to ``simulate(dgp, 20700, seed)`` (the library's automatic settings unless
   overridden below: what the command line and R use).
2. Times the effect queries (best and median of ``--repeats``): TE + NDE/NIE via W and via
   U (natural only), the same plus the interventional rNDE/rNIE (the target query, ≤ 1 s),
   and the sequential decomposition over (U, W).
3. Times a ``--n-boot`` replicate bootstrap (default 200; target ≤ 10 min), split into
   training the batched ensemble (``medflow.bootstrap.bootstrap_ensemble``) and the effect
   query over the ensemble (``fit.effects(..., n_boot=...)``, which reuses the cached
   ensemble), and records the interval of each effect and whether it covers the truth.
4. Bootstrap throughput (replicates per minute) for ``--throughput-reps`` replicates: the
   replicates trained as one batched ensemble vs one after another
   (``boot_options={"chunks": R, "n_jobs": 1}``); all in one process.

Usage::

    python benchmarks/effects_speed.py --threads 1
    python benchmarks/effects_speed.py --quick          # smoke run (small bootstrap)

Writes ``benchmarks/results/effects_speed.{json,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

import medflow as mf
from _common import effect_errors, environment, markdown_table, peak_rss_mb, timed, write_results
from medflow.bootstrap import bootstrap_ensemble


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
    # fit settings: default None = the library's automatic choice (TrainSettings.auto)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--members", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--boot-members", type=int, default=None, help="members per replicate (default 1)")
    p.add_argument("--boot-chunks", type=int, default=None)
    p.add_argument("--boot-n-jobs", type=int, default=None, help="joblib workers for the chunks")
    p.add_argument("--throughput-reps", type=int, default=10)
    p.add_argument("--skip-bootstrap", action="store_true")
    p.add_argument("--target-effects", type=float, default=1.0)
    p.add_argument("--target-bootstrap", type=float, default=600.0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: N=4000, 2 repeats, 10-replicate bootstrap with 3 epochs")
    p.add_argument("--name", default="effects_speed")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.n_boot, args.epochs = 4000, 2, 10, 10
        args.throughput_reps = 4
        args.name = args.name + "_quick" if args.name == "effects_speed" else args.name
    env = environment(args.threads)
    boot_options = {k: v for k, v in dict(members=args.boot_members, chunks=args.boot_chunks,
                                          n_jobs=args.boot_n_jobs).items() if v is not None}
    fit_args = {k: v for k, v in dict(batch_size=args.batch_size, lr=args.lr, patience=args.patience,
                                      epochs=args.epochs, members=args.members).items() if v is not None}
    flow_args = {} if args.hidden is None else {"hidden": args.hidden}

    sim = mf.datasets.simulate(args.dgp, args.n, args.seed)
    truth = sim.truth.set_index("label")
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
    # warm-up: one tiny fit pays the one-time costs (lazy imports, first kernel calls)
    mf.CausalFlow(sim.model, sim.data.iloc[:200], **flow_args).fit(epochs=1, members=1, verbose=False)
    tf: dict = {}
    with timed(tf, "fit"):
        fit = mf.CausalFlow(sim.model, sim.data, **flow_args).fit(seed=args.seed, verbose=False, **fit_args)
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

        # 2. throughput, all in this process (no workers, so CPU times compare): R replicates
        # trained as one batched ensemble vs the same R replicates one chunk after another.
        R = args.throughput_reps
        one = {**boot_options, "n_jobs": 1}
        tp: dict = {}
        with timed(tp, "batched ensemble"):
            bootstrap_ensemble(fit, R, seed=args.seed + 1, verbose=False, **{**one, "chunks": 1})
        with timed(tp, "one replicate at a time"):
            bootstrap_ensemble(fit, R, seed=args.seed + 1, verbose=False, **{**one, "chunks": R})
        for name in ("batched ensemble", "one replicate at a time"):
            secs, cpu = tp[f"{name}_s"], tp[f"{name}_cpu_s"]
            rows.append(dict(kind="throughput", what=name, best_s=secs, cpu_s=cpu, n_boot=R,
                             s_per_member=secs / R, replicates_per_min=60.0 * R / secs,
                             replicates_per_cpu_min=60.0 * R / cpu))
        extra["throughput_speedup"] = tp["one replicate at a time_s"] / tp["batched ensemble_s"]

    df = pd.DataFrame(rows)
    md = [f"Model fitted to simulate({args.dgp!r}, {args.n}, {args.seed}) in {fit_s:.1f} s "
          f"({tf['fit_cpu_s']:.1f} CPU s) "
          f"({fit.fit_info['epochs_run']} epochs; settings {fit.fit_info.get('settings')}). "
          f"Contrast X = {a:.3f} vs {a_ref:.3f}. "
          f"Targets: effects ≤ {args.target_effects:g} s, {args.n_boot}-replicate bootstrap ≤ "
          f"{args.target_bootstrap:g} s. boot_options = {boot_options}.", "",
          "Times in s: best_s / median_s wall clock, cpu_s = this process's CPU time.", "",
          markdown_table(df, 3), ""]
    md.append("Errors of the point estimates (SD(Y) units): "
              + ", ".join(f"{k} {v:+.3f}" for k, v in errs.items()) + ".")
    if "bootstrap_intervals" in extra:
        cov = pd.DataFrame(extra["bootstrap_intervals"])
        md += ["", "Bootstrap intervals against the truth:", "", markdown_table(cov, 4)]
        md.append(f"\nBatched ensemble vs the same replicates one after another (wall seconds, one "
                  f"process): {extra['throughput_speedup']:.2f}x.")
    return write_results(args.name, env, rows, "\n".join(md), extra=extra)


if __name__ == "__main__":
    main()
