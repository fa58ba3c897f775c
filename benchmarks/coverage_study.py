"""Coverage of the flow's bootstrap intervals, run replication by replication.

The same study as ``python -m medflow.validation`` (bias, RMSE, coverage at 90 % and 95 %
with Monte Carlo SEs, interval width against the sampling spread), but each replication is
appended to ``<out>/results.csv`` as soon as it finishes and the designs are interleaved
(replication r of every design before replication r + 1), so a run stopped early still
gives a balanced, usable summary; a rerun with the same ``--out`` resumes where it stopped.

    python benchmarks/coverage_study.py --dgps nonlinear blau_duncan --n 2000 --reps 40 \\
        --boot 50 --out benchmarks/results/coverage_2000

``--summarize`` only rewrites ``summary.md``/``summary.json`` from what is there.

``--save-draws`` also writes ``<out>/draws/<dgp>_<rep>.npz``: for every flow effect (keys
``<label>|fit`` and ``<label>|boot`` plus ``per``), the fit's member values and the
replicates' member values before :func:`medflow.estimands.replicate_means`, so other
interval constructions can be scored on the same refits (``benchmarks/interval_choice.py``).

``--resample half`` replaces the bootstrap's multinomial resamples by half-samples: each
replicate refits on a random half of the rows (without replacement) weighted 2, so no row
is duplicated (an experiment on where the bootstrap's spread goes wrong, not a library option).
``--resample exp`` gives every row a weight drawn from Exp(1), scaled to sum ``n`` (Rubin's
Bayesian bootstrap): the same first two moments as a resample's counts, but every row is
present, so a replicate's folds, batches and early stopping see all ``n`` rows as the fit does
(another experiment).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

import medflow.bootstrap
import medflow.effects
import medflow.estimands
from medflow import validation as val


class _DrawRecorder:
    """Records every flow effect's member values: the fit's and the bootstrap replicates'.

    The effects engine evaluates each flow's members (the fit's, then each chunk of
    replicates) contrast by contrast, in the order of its table rows (``_Engine.contrast``),
    and then builds the rows (``effect_row``); ``replicate_means`` tells the members per
    replicate. Pairing the calls in that order gives, per label, ``<label>|fit`` (``K``
    values) and ``<label>|boot`` (``B * per`` values).
    """

    def __init__(self) -> None:
        self.draws: dict[str, np.ndarray] = {}
        self._calls: list[np.ndarray] = []
        self._labels: list[str] = []
        self._per = 1
        self._contrast = medflow.effects._Engine.contrast
        self._means = medflow.estimands.replicate_means
        self._row = medflow.effects.effect_row

    def __enter__(self):
        rec = self

        def contrast(engine, hi, lo):
            est, err = rec._contrast(engine, hi, lo)
            rec._calls.append(est.detach().numpy().copy())
            return est, err

        def means(values, per=1):
            rec._per = int(per)
            return rec._means(values, per)

        def row(**kw):
            if kw.get("method") == "flow" and kw.get("n_boot"):
                rec._labels.append(kw["label"])
            return rec._row(**kw)

        medflow.effects._Engine.contrast = contrast
        medflow.estimands.replicate_means = means
        medflow.effects.effect_row = row
        return self

    def __exit__(self, *exc) -> None:
        medflow.effects._Engine.contrast = self._contrast
        medflow.estimands.replicate_means = self._means
        medflow.effects.effect_row = self._row
        n_spec = len(self._labels)
        if not n_spec:
            return
        if len(self._calls) % n_spec:
            raise RuntimeError("contrast calls do not pair with the flow's rows")
        for j, label in enumerate(self._labels):
            parts = self._calls[j::n_spec]
            self.draws[f"{label}|fit"] = parts[0]
            self.draws[f"{label}|boot"] = np.concatenate(parts[1:])
        self.draws["per"] = np.array(self._per)


def _half_samples(n: int, n_boot: int, seed: int):
    """Half-sample weights ``(n_boot, n)``: ``n // 2`` rows drawn without replacement per
    replicate, each weighted ``n / (n // 2)`` (rows sum to ``n`` as a resample's counts do)."""
    import torch

    rng = np.random.default_rng(seed)
    m = n // 2
    w = np.zeros((n_boot, n))
    for r in range(n_boot):
        w[r, rng.choice(n, m, replace=False)] = n / m
    return torch.as_tensor(w, dtype=torch.float64)


def _exp_weights(n: int, n_boot: int, seed: int):
    """Bayesian-bootstrap weights ``(n_boot, n)``: Exp(1) draws scaled so each row sums to ``n``."""
    import torch

    w = np.random.default_rng(seed).exponential(size=(n_boot, n))
    return torch.as_tensor(w * (n / w.sum(1, keepdims=True)), dtype=torch.float64)


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
    p.add_argument("--resample", choices=["bootstrap", "half", "exp"], default="bootstrap",
                   help="replicates' resampling (experiments: half, half-samples without "
                        "replacement; exp, Bayesian-bootstrap weights on every row)")
    p.add_argument("--save-draws", action="store_true",
                   help="keep every flow effect's raw member values (fit and replicates)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(vars(args))
    if args.summarize:
        if (out / "meta.json").exists():  # the run's own settings, not this call's defaults
            meta = {**meta, **json.loads((out / "meta.json").read_text())}
        print(_summarize(out, meta))
        return
    if args.resample == "half":
        medflow.bootstrap.bootstrap_weights = _half_samples
    elif args.resample == "exp":
        medflow.bootstrap.bootstrap_weights = _exp_weights
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
            with _DrawRecorder() as rec:
                res = val.run_replication(dgp, args.n, rep, seed=args.seed, n_boot=args.boot,
                                          threads=args.threads)
            if args.save_draws:
                (out / "draws").mkdir(exist_ok=True)
                np.savez_compressed(out / "draws" / f"{dgp}_{rep}.npz", **rec.draws)
            res.to_csv(path, mode="a", header=not path.exists(), index=False)
            print(f"{dgp} rep {rep}: {time.perf_counter() - t:.0f} s", flush=True)
        (out / "meta.json").write_text(json.dumps(meta, indent=1))
    print(_summarize(out, meta))


if __name__ == "__main__":
    main()
