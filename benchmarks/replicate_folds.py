"""How much of a one-member bootstrap replicate's spread is its held-out fold's (issue 14).

Two bootstraps of one fit on the same resamples: the library's replicates, and a variant with
``--folds`` folds (a smaller held-out share) and/or ``--select averaged`` (every member keeps
its weights averaged over the end of the schedule instead of choosing, on its held-out rows,
between them and its best epoch); ``--holdout none`` with ``--select averaged`` trains each
replicate on all of its resample (no row is left out, so no fold part). All are experiments,
not library options.

A fit averages ``K`` cross-fitted members; every row is left out by exactly one of them, so to
first order the effect of which rows a member leaves out cancels in the average. A replicate
with one member cannot cancel it: its estimate moves with the rows its one held-out fold
takes away, and on a resample those rows carry their counts (``sum c^2`` is about ``2 n``),
which doubles that part. ``seed_stability.py --fold-seed`` measures the fold part of a
member's spread within a fit; this script measures what it does to the bootstrap: the same
resamples (same seed, hence the same counts) refitted with the fit's number of folds and with
``--folds`` folds, whose smaller held-out share leaves less of a fold's effect in each
replicate. Reports, per effect, the replicates' SD in both runs and their ratio, in SD(Y)
units; ``--sampling`` reads a coverage run's ``interval_choice.md`` for the SD of the
estimates over data sets (what an interval must match) on the same design and size.

    python benchmarks/replicate_folds.py --data nonlinear --n 20700 --boot 50 --folds 20 \\
        --sampling benchmarks/results/coverage_20700_asis/interval_choice.md
    python benchmarks/replicate_folds.py --data nonlinear --n 20700 --boot 50 --select averaged \\
        --sampling benchmarks/results/coverage_20700_asis/interval_choice.md
    python benchmarks/replicate_folds.py --data nonlinear --n 20700 --boot 50 --select averaged \\
        --holdout none --sampling benchmarks/results/coverage_20700_asis/interval_choice.md

An experiment: the library's replicates use the fit's folds.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, timed, write_results  # noqa: E402
from seed_stability import load  # noqa: E402

from medflow.bootstrap import default_members  # noqa: E402


def sampling_sd(path: Path, design: str) -> dict[str, float]:
    """``sd_estimates`` per effect of ``design`` from an ``interval_choice.md`` spread table."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 4 and cells[0] == design and re.fullmatch(r"[0-9.]+", cells[3]):
            out[cells[1]] = float(cells[3])
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="nonlinear", help="a simulation design (nonlinear, blau_duncan)")
    ap.add_argument("--n", type=int, default=20700)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0, help="fit seed")
    ap.add_argument("--boot", type=int, default=50)
    ap.add_argument("--boot-seed", type=int, default=1, help="the effects' seed (resamples, draws)")
    ap.add_argument("--folds", type=int, default=None, help="folds of the variant's replicates (default: the fit's)")
    ap.add_argument("--select", choices=["held-out", "averaged"], default="held-out",
                    help="the variant's members: choose by held-out rows (the library's) or keep the average")
    ap.add_argument("--holdout", choices=["fold", "none"], default="fold",
                    help="none: the variant's members train on every row of their resample "
                         "(needs --select averaged)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sampling", type=Path, help="a coverage run's interval_choice.md")
    ap.add_argument("--name", default=None)
    args = ap.parse_args(argv)
    if args.holdout == "none" and args.select != "averaged":
        ap.error("--holdout none needs --select averaged (no held-out rows to choose on)")
    if args.folds is None and args.select == "held-out":
        ap.error("give a variant: --folds, --select averaged or both")

    import medflow as mf

    env = environment(args.threads)
    data, model, (a, a_ref), mediators, _truth = load(args.data, args.n, args.data_seed)
    sd_y = float(data["Y"].std())
    rec: dict = {}
    with timed(rec, "fit"):
        fit = mf.CausalFlow(model, data).fit(seed=args.seed, verbose=False)
    k_fit = int(fit.fit_info["folds"])
    folds = args.folds or k_fit
    if folds == k_fit and args.select == "held-out":
        raise SystemExit(f"--folds {folds} is the fit's own number of folds: nothing to compare")
    variant = ("no held-out rows" if args.holdout == "none" else f"{folds} folds") + (
        ", averaged" if args.select == "averaged" else "")
    base = f"{k_fit} folds"
    runs = {}
    import medflow.bootstrap as bootstrap
    import medflow.training as training
    choose, split = training._prefer_average, bootstrap.member_weights

    def train_on_all(fold, k, counts):
        _train, held = split(fold, k, counts)
        return counts.double().reshape(1, -1).expand(k, -1).clone(), held

    def keep_average(flow, best_state, avg_state, have, best, *rest):
        return choose(flow, best_state, avg_state, have, torch.full_like(best, float("inf")), *rest)
    # two chunks run one after the other in this process (a patched selection does not reach
    # joblib's worker processes); they give the replicates two workers would
    for name, k, select in ((base, k_fit, "held-out"), (variant, folds, args.select)):
        fit.fit_info["folds"] = k              # what bootstrap_ensemble gives the replicates
        fit.__dict__.pop("_bootstrap_cache", None)
        training._prefer_average = keep_average if select == "averaged" else choose
        if name == variant and args.holdout == "none":
            bootstrap.member_weights = train_on_all
        try:
            with timed(rec, f"boot {name}"):
                runs[name] = fit.effects("X", "Y", mediators=mediators, a=a, a_ref=a_ref,
                                         n_boot=args.boot, seed=args.boot_seed, verbose=False,
                                         boot_options={"chunks": 2, "n_jobs": 1})
        finally:
            training._prefer_average, bootstrap.member_weights = choose, split
    fit.fit_info["folds"] = k_fit
    ref = sampling_sd(args.sampling, args.data) if args.sampling else {}
    rows = []
    for lab in runs[base].params.index:
        sd_k = float(runs[base].draws[lab].std(ddof=1)) / sd_y
        sd_f = float(runs[variant].draws[lab].std(ddof=1)) / sd_y
        row = {"effect": lab, "estimate": float(runs[base].params[lab]) / sd_y,
               f"replicate sd, {base}": sd_k, f"replicate sd, {variant}": sd_f,
               "ratio": sd_f / sd_k}
        if lab in ref:
            row["sd of estimates (coverage run)"] = ref[lab]
            row[f"{base} / that"] = sd_k / ref[lab]
            row[f"{variant} / that"] = sd_f / ref[lab]
        rows.append(row)
    table = pd.DataFrame(rows)
    md = (f"Data: simulate('{args.data}', {args.n}, seed={args.data_seed}); fit seed {args.seed} "
          f"({k_fit} folds); {args.boot} replicates (effects seed {args.boot_seed}, the same resamples in "
          f"both runs), {default_members(args.n)} member(s) each as the library's default at this size; the variant's "
          f"replicates: {variant}" + ("" if args.holdout == "none" else " (member 0 holds out fold 0)")
          + ". SD(Y) units."
          + (f" Sampling SD: `sd_estimates` of {args.sampling}." if ref else "")
          + f"\n\n{markdown_table(table, 4)}\n\nSeconds: fit {rec['fit_s']:.1f}, bootstrap "
          f"({base}) {rec[f'boot {base}_s']:.1f}, ({variant}) {rec[f'boot {variant}_s']:.1f}.\n")
    name = args.name or f"replicate_folds_{args.data}_{args.n}" + (
        "_no_holdout" if args.holdout == "none" else "") + ("_averaged" if args.select == "averaged" else "")
    return write_results(name, env, [dict(rec, **{"table": rows})], md)


if __name__ == "__main__":
    main()
