"""Scaling of fit time, held-out NLL, effect-query time and memory with N and the number of nodes.

For each number of nodes ``d`` a random DAG is drawn (each node after the first gets 1–4
parents among the earlier nodes) with nonlinear structural equations that are strictly
increasing in one standard-normal noise:

    raw_j = sum_k c_jk phi_jk(v_k) + g_j v_a v_b + s_j(pa_j) * sinh(lam_j e_j) / lam_j,
    v_j   = (raw_j - m_j) / sd_j,

with ``phi`` drawn from (identity, tanh, centred softplus, x + 0.5 sin x), ``s_j`` a
positive sigmoid of a linear index (heteroskedasticity), an interaction ``g_j`` when the
node has two or more parents, and ``m_j, sd_j`` fixed constants (from a pilot sample)
that keep every node on unit scale. The exact log-density follows from the change of
variables, so every row reports the oracle NLL beside the flow's.

Each ``(N, d)`` cell runs in a fresh subprocess (after a one-epoch warm-up fit on 200
rows, so that one-time costs such as lazy imports are not timed) so that its peak memory
(``resource.getrusage`` maxrss, whole process including torch) is its own; ``--tracemalloc``
also reports Python-side allocations (numpy, pandas; torch tensors are not traced, and
tracing slows Python down, so times are then not comparable).

Usage::

    python benchmarks/scaling.py                          # N in {2000, 20700, 200000} x d in {5, 10, 20}
    python benchmarks/scaling.py --sizes 2000 20700 --dims 5 10
    python benchmarks/scaling.py --quick                  # N = 2000, d in {5, 10}, 5 epochs

Writes ``benchmarks/results/scaling.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from _common import environment, markdown_table, write_results

_PHI = ("identity", "tanh", "softplus", "wiggle")


def _phi(kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "identity":
        return x
    if kind == "tanh":
        return np.tanh(x)
    if kind == "softplus":
        return np.logaddexp(0.0, x) - math.log(2.0)
    return x + 0.5 * np.sin(x)


@dataclass
class RandomSCM:
    """A random DAG with monotone nonlinear equations (see the module docstring)."""

    d: int
    seed: int
    parents: list[list[int]] = field(default_factory=list)
    coef: list[np.ndarray] = field(default_factory=list)
    phi: list[list[str]] = field(default_factory=list)
    inter: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale_w: list[np.ndarray] = field(default_factory=list)
    lam: np.ndarray = field(default_factory=lambda: np.zeros(0))
    loc: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sd: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        d = self.d
        self.parents = [[]]
        for j in range(1, d):
            k = int(min(j, 1 + min(rng.poisson(1.0), 3)))
            self.parents.append(sorted(rng.choice(j, size=k, replace=False).tolist()))
        self.coef = [rng.uniform(0.3, 0.9, len(p)) * rng.choice([-1.0, 1.0], len(p)) for p in self.parents]
        self.phi = [[str(rng.choice(_PHI)) for _ in p] for p in self.parents]
        self.inter = np.array([rng.uniform(-0.3, 0.3) if len(p) >= 2 else 0.0 for p in self.parents])
        self.scale_w = [rng.uniform(-0.5, 0.5, len(p)) for p in self.parents]
        self.lam = rng.uniform(0.3, 0.7, d)
        self.loc, self.sd = np.zeros(d), np.ones(d)
        pilot = self._solve(np.random.default_rng(self.seed + 1).standard_normal((20000, d)))
        self.loc, self.sd = pilot.mean(0), pilot.std(0)

    @property
    def names(self) -> list[str]:
        return [f"V{j}" for j in range(self.d)]

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(f"V{k}", f"V{j}") for j in range(self.d) for k in self.parents[j]]

    def _mean_scale(self, j: int, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pa = self.parents[j]
        n = v.shape[0]
        if not pa:
            return np.zeros(n), np.ones(n)
        mean = sum(c * _phi(f, v[:, k]) for c, f, k in zip(self.coef[j], self.phi[j], pa))
        if len(pa) >= 2:
            mean = mean + self.inter[j] * v[:, pa[0]] * v[:, pa[1]]
        index = v[:, pa] @ self.scale_w[j]
        return mean, 0.5 + 0.5 * special.expit(index)

    def _solve(self, eps: np.ndarray) -> np.ndarray:
        v = np.zeros_like(eps)
        for j in range(self.d):
            mean, scale = self._mean_scale(j, v)
            raw = mean + scale * np.sinh(self.lam[j] * eps[:, j]) / self.lam[j]
            v[:, j] = (raw - self.loc[j]) / self.sd[j]
        return v

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        eps = np.random.default_rng(seed).standard_normal((n, self.d))
        return pd.DataFrame(self._solve(eps), columns=self.names)

    def log_prob(self, frame: pd.DataFrame) -> np.ndarray:
        """Exact log-density of each row (change of variables through every equation)."""
        v = frame[self.names].to_numpy(dtype=float)
        out = np.zeros(len(v))
        for j in range(self.d):
            mean, scale = self._mean_scale(j, v)
            r = (v[:, j] * self.sd[j] + self.loc[j] - mean) / scale
            lam = self.lam[j]
            e = np.arcsinh(lam * r) / lam
            # d raw / d e = scale * cosh(lam e); d v / d raw = 1 / sd
            out += (-0.5 * e**2 - 0.5 * math.log(2 * math.pi)
                    - np.log(scale) - np.log(np.cosh(lam * e)) + math.log(self.sd[j]))
        return out

    def query(self) -> tuple[str, str, str]:
        """(treatment, outcome, mediator): the outcome is the last node; the treatment is the
        ancestor of the outcome with the most nodes between them; the mediator is one of those."""
        anc = {j: set() for j in range(self.d)}
        for j in range(self.d):
            for k in self.parents[j]:
                anc[j] |= {k} | anc[k]
        y = self.d - 1
        best = None
        for t in sorted(anc[y]):
            between = [m for m in anc[y] if t in anc[m]]
            if between and (best is None or len(between) > len(best[1])):
                best = (t, between)
        if best is None:
            raise RuntimeError("random DAG without a mediated path; use another --dag-seed")
        t, between = best
        m = min(between)
        return f"V{t}", f"V{y}", f"V{m}"


# ---------------------------------------------------------------------- one cell (subprocess)
def worker(cfg: dict) -> dict:
    import resource
    import time
    import tracemalloc

    import torch

    import medflow as mf

    if cfg["threads"] is not None:
        torch.set_num_threads(cfg["threads"])
    if cfg["tracemalloc"]:
        tracemalloc.start()
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # noqa: E731
    rss_start = rss()
    scm = RandomSCM(cfg["d"], cfg["dag_seed"] + cfg["d"])
    data = scm.sample(cfg["n"], cfg["seed"])
    test = scm.sample(cfg["n_test"], cfg["seed"] + 10_000)
    treatment, outcome, mediator = scm.query()
    rss_data = rss()
    # warm-up: one tiny fit pays the one-time costs (lazy imports, first kernel calls)
    mf.CausalFlow(scm.edges, data.iloc[:200], hidden=cfg["hidden"]).fit(epochs=1, verbose=False)
    t0, c0 = time.perf_counter(), time.process_time()
    fit = mf.CausalFlow(scm.edges, data, hidden=cfg["hidden"]).fit(
        epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], patience=cfg["patience"],
        seed=cfg["seed"], verbose=False)
    fit_s, fit_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    rss_fit = rss()
    nll = float(-np.mean(fit.log_prob(test)))
    oracle = float(-np.mean(scm.log_prob(test)))
    timings = {}
    for name, fn in {
        "effects": lambda: fit.effects(treatment, outcome, mediators=[mediator], seed=0),
        "decompose": lambda: fit.decompose(treatment, outcome, order=[mediator], seed=0),
    }.items():
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        timings[f"{name}_s"], timings[f"{name}_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    out = dict(n=cfg["n"], d=cfg["d"], edges=len(scm.edges), treatment=treatment, outcome=outcome,
               mediator=mediator, threads=torch.get_num_threads(), epochs_run=fit.fit_info["epochs_run"],
               best_epoch=max(fit.fit_info["best_epochs"]), fit_s=fit_s, fit_cpu_s=fit_cpu_s,
               s_per_epoch=fit_s / fit.fit_info["epochs_run"], heldout_nll=nll, oracle_nll=oracle,
               nll_gap=nll - oracle, **timings, rss_start_mb=rss_start, rss_after_data_mb=rss_data,
               rss_after_fit_mb=rss_fit, peak_rss_mb=rss(),
               loadavg_end=[round(x, 2) for x in os.getloadavg()])
    if cfg["tracemalloc"]:
        out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2000, 20700, 200000])
    p.add_argument("--dims", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dag-seed", type=int, default=100)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: N=2000, d in {5, 10}, 5 epochs")
    p.add_argument("--name", default="scaling")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        cfg = json.loads(Path(args.worker).read_text())
        Path(args.worker).write_text(json.dumps(worker(cfg)))
        return {}
    if args.quick:
        args.sizes, args.dims, args.epochs, args.n_test = [2000], [5, 10], 5, 1000
        args.name = args.name + "_quick" if args.name == "scaling" else args.name
    env = environment(args.threads)
    rows = []
    for d in args.dims:
        for n in args.sizes:
            cfg = dict(n=n, d=d, seed=args.seed, dag_seed=args.dag_seed, n_test=args.n_test,
                       threads=args.threads, batch_size=args.batch_size, lr=args.lr,
                       patience=args.patience, epochs=args.epochs, hidden=args.hidden,
                       tracemalloc=args.tracemalloc)
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
                json.dump(cfg, fh)
            try:
                subprocess.run([sys.executable, __file__, "--worker", fh.name], check=True)
                row = json.loads(Path(fh.name).read_text())
            finally:
                os.unlink(fh.name)
            print(f"[scaling] N={n} d={d}: fit {row['fit_s']:.1f} s ({row['epochs_run']} epochs), "
                  f"NLL {row['heldout_nll']:.3f} (oracle {row['oracle_nll']:.3f}), effects "
                  f"{row['effects_s']:.2f} s, peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
            rows.append(row)
    df = pd.DataFrame(rows)
    cols = ["n", "d", "edges", "epochs_run", "fit_s", "fit_cpu_s", "s_per_epoch", "heldout_nll", "oracle_nll",
            "nll_gap", "effects_s", "effects_cpu_s", "decompose_s", "peak_rss_mb"]
    if args.tracemalloc:
        cols.append("tracemalloc_peak_mb")
    md = (f"Random DAGs (dag seed {args.dag_seed} + d), nonlinear monotone equations; fit settings: batch "
          f"{args.batch_size}, lr {args.lr:g}, patience {args.patience}, max {args.epochs} epochs, hidden "
          f"{args.hidden}. NLL in nats/row on {args.n_test} held-out rows; oracle = the true model's NLL. "
          f"'effects' = TE + NDE/NIE + rNDE/rNIE for one mediator over the N fitted units; "
          f"'decompose' = sequential decomposition. Times in s (wall; CPU = process user+system).\n\n"
          + markdown_table(df[cols], 3))
    return write_results(args.name, env, rows, md, extra=dict(args=vars(args)))


if __name__ == "__main__":
    main()
