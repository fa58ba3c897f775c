"""Spread of the flow's effects over fit seeds on one data set (issue "One stable estimator").

Fits ``CausalFlow(model, data).fit(seed=s)`` — the library's one procedure, with any
overrides given on the command line — for several seeds on the same data and reports, per
effect, the mean, the SD over seeds and the range (SD(Y) units), the error against the
truth where the data have one, the fit's CPU and wall seconds and its linearity table.

    python benchmarks/seed_stability.py --data bundled --seeds 0 1 2 3 4
    python benchmarks/seed_stability.py --data gss --seeds 0 1 2 3 4
    python benchmarks/seed_stability.py --data nonlinear --n 20700 --members 1   # a single flow
    python benchmarks/seed_stability.py --average 0 --name weight_averaging_0    # no averaging
    python benchmarks/seed_stability.py --fold-seed 0      # folds fixed: seeds move init and batches only
    python benchmarks/seed_stability.py --vary folds       # fit seed 0: the seeds draw only the folds
    python benchmarks/seed_stability.py --select averaged  # members keep their averaged weights

``member_sd`` is the SD of the effect over the members of one fit (mean over seeds): the
optimiser's spread of a single member, which the ensemble divides by about sqrt(K).

With ``--fold-seed`` every seed fits the same folds, so member ``k`` of every seed trains on
the same rows (it holds out fold ``k``) and differs between seeds only by its initial weights
and minibatch order. A member's spread then splits into the part that its rows fix
(``fold_sd``: the SD over ``k`` of member ``k``'s mean over seeds, less the seeds' share of
it) and the part the optimiser's randomness adds (``init_sd``: the SD over seeds of member
``k``, pooled over ``k``). To first order the fold part cancels in the ensemble (every row is
left out by exactly one member), so it burdens a single member, not the fit.

Target (issue #13): SD over 5 seeds <= 0.005 SD(Y) for every effect on the bundled data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, timed, write_results  # noqa: E402

LABELS = ["TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U",
          "rNDE via W", "rNIE via W", "rNDE via U", "rNIE via U"]
BLAU_DUNCAN = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"


def load(name: str, n: int, data_seed: int):
    """(data, model, treatment contrast, mediators, truth in outcome units or None)."""
    import medflow as mf

    if name == "bundled":
        truth = mf.datasets.blau_duncan_truth().set_index("label")["sample_truth"]
        return mf.datasets.blau_duncan_synthetic(), BLAU_DUNCAN, (33.0, 11.0), ["W", "U"], truth
    if name == "gss":
        data = mf.datasets.gss_status_attainment()
        return data, "U ~ V + X; Y ~ U + X; V ~~ X", None, ["U"], None
    sim = mf.datasets.simulate(name, n, seed=data_seed)
    t = sim.truth.set_index("label")
    return sim.data, BLAU_DUNCAN, (float(t["a"].iloc[0]), float(t["a_ref"].iloc[0])), ["W", "U"], t["truth"]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="bundled", help="bundled, gss, or a simulation design (nonlinear, ...)")
    ap.add_argument("--n", type=int, default=20700, help="rows of a simulated design")
    ap.add_argument("--data-seed", type=int, default=2026)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--members", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--average", type=float, help="share of the schedule averaged (TrainSettings.average)")
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--linear-nodes", default="auto")
    ap.add_argument("--fold-seed", type=int, help="draw the folds from this seed, not the fit's")
    ap.add_argument("--vary", choices=["fit", "folds"], default="fit",
                    help="folds: --seeds are fold seeds, the fit seed is --fit-seed")
    ap.add_argument("--fit-seed", type=int, default=0, help="the fit seed with --vary folds")
    ap.add_argument("--select", choices=["held-out", "averaged"], default="held-out",
                    help="averaged: every member keeps its averaged weights, whatever its held-out rows "
                         "say (an experiment; the library chooses by held-out rows)")
    ap.add_argument("--boot", type=int, default=0, help="bootstrap replicates on the first seed (for its SE)")
    ap.add_argument("--name", default=None, help="results name (default seed_stability_<data>)")
    args = ap.parse_args(argv)

    import medflow as mf

    env = environment(args.threads)
    data, model, contrast, mediators, truth = load(args.data, args.n, args.data_seed)
    flow_kw = {} if args.hidden is None else {"hidden": args.hidden}
    fit_kw = dict(members=args.members, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                  weight_decay=args.weight_decay, average=args.average,
                  linear_nodes=args.linear_nodes)
    sd_y = float(data["Y"].std())
    a, a_ref = contrast if contrast else (None, None)
    # spy: each contrast's per-member estimates (the fit's members come first)
    from medflow import effects as _effects

    seen: list = []
    contrast_fn = _effects._Engine.contrast

    def spy(self, hi, lo):
        est, err = contrast_fn(self, hi, lo)
        seen.append(est.numpy().copy())
        return est, err

    _effects._Engine.contrast = spy
    # the folds from their own generator: the fit's generator then draws only the initial
    # weights and the minibatch order (or, with --vary folds, the same ones on every run)
    from medflow import crossfit
    import torch

    assign = crossfit.assign_folds
    fold_seed = [args.fold_seed]
    if args.fold_seed is not None or args.vary == "folds":
        crossfit.assign_folds = lambda n, k, _gen: assign(n, k, torch.Generator().manual_seed(fold_seed[0]))
    if args.select == "averaged":
        from medflow import training

        choose = training._prefer_average
        training._prefer_average = lambda flow, best_state, avg_state, have, best, *rest: choose(
            flow, best_state, avg_state, have, torch.full_like(best, float("inf")), *rest)
    rows, bse = [], {}
    for s in args.seeds:
        rec: dict = {"seed": s}
        fit_seed = s
        if args.vary == "folds":
            fold_seed[0], fit_seed = s, args.fit_seed
        with timed(rec, "fit"):
            fit = mf.CausalFlow(model, data, **flow_kw).fit(seed=fit_seed, verbose=False, **fit_kw)
        n_boot = args.boot if s == args.seeds[0] else 0
        seen.clear()
        with timed(rec, "effects"):
            res = fit.effects("X", "Y", mediators=mediators, a=a, a_ref=a_ref, n_boot=n_boot, verbose=False)
        if n_boot:
            bse = (res.bse / sd_y).to_dict()
        for i, (lab, est) in enumerate(res.params.items()):
            rec[lab] = float(est) / sd_y
            rec[f"member_sd {lab}"] = float(np.std(seen[i], ddof=1)) / sd_y if seen[i].size > 1 else np.nan
            rec[f"members {lab}"] = (np.asarray(seen[i], dtype=float) / sd_y).tolist()
        rec["averaged"] = sum(fit.fit_info.get("averaged", []))
        rec["linear_nodes"] = " ".join(fit.fit_info["linear_nodes"]) or "-"
        rec["converged"] = fit.fit_info["converged"]
        rec["settings"] = fit.fit_info["settings"]
        rows.append(rec)
        print(f"seed {s}: fit {rec['fit_s']:.1f} s ({rec['fit_cpu_s']:.1f} CPU s), "
              + " ".join(f"{k}={rec[k]:.4f}" for k in res.params.index), file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    labels = [lab for lab in LABELS if lab in frame]
    summary = []
    for lab in labels:
        v = frame[lab].to_numpy()
        line = dict(effect=lab, mean=v.mean(), sd_over_seeds=v.std(ddof=1), range=v.max() - v.min(),
                    member_sd=frame[f"member_sd {lab}"].mean())
        if truth is not None:
            line["error_of_mean"] = v.mean() - float(truth[lab]) / sd_y
        if args.fold_seed is not None and len(rows) > 1:
            m = np.array(frame[f"members {lab}"].tolist())          # (seeds, members)
            within = m.var(axis=0, ddof=1).mean()                  # optimiser, per member
            fold = m.mean(axis=0).var(ddof=1) - within / m.shape[0]
            line["fold_sd"] = float(np.sqrt(max(fold, 0.0)))
            line["init_sd"] = float(np.sqrt(within))
        if bse:
            line["bootstrap_se"] = bse.get(lab, np.nan)
            line["sd / se"] = line["sd_over_seeds"] / line["bootstrap_se"]
        summary.append(line)
    table = pd.DataFrame(summary)
    varied = ("fold seeds (fit seed {args.fit_seed})" if args.vary == "folds" else
              "fit seeds" + ("" if args.fold_seed is None else f" (folds from seed {args.fold_seed})"))
    md = (f"Data: {args.data} (N = {len(data)}); {varied.format(args=args)} {args.seeds}; overrides "
          f"{ {k: v for k, v in fit_kw.items() if v is not None} } {flow_kw}"
          + ("; every member keeps its averaged weights (--select averaged)" if args.select == "averaged" else "")
          + ".\n\n"
          f"Effects in SD(Y) units.\n\n{markdown_table(table, 4)}\n\n"
          f"Fit seconds (wall / CPU): "
          + ", ".join(f"{r['fit_s']:.1f} / {r['fit_cpu_s']:.1f}" for r in rows)
          + "\n\nMembers keeping their averaged weights per seed: "
          + ", ".join(f"{r['averaged']} of {r['settings']['members']}" for r in rows)
          + f"\n\nLargest SD over seeds: {table['sd_over_seeds'].max():.4f} SD(Y). "
          f"Linear nodes per seed: {', '.join(frame['linear_nodes'])}.\n")
    name = args.name or f"seed_stability_{args.data}"
    return write_results(name, env, rows, md, extra=dict(summary=table))


if __name__ == "__main__":
    main()
