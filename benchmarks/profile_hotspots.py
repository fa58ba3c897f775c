"""Profile a training step and the effect query; measure the proposed fixes on patched copies.

Three measurements on a Blau–Duncan-size problem (``simulate("nonlinear", 20700, 0)``):

1. ``torch.profiler`` table of the top operators of one training step (batch ``--batch-size``)
   and CPU milliseconds per step with 1 and with 2 torch threads (thread oversubscription on
   a loaded machine);
2. ``cProfile`` of ``fit.effects(..., mediators=["W", "U"])`` (with rNDE/rNIE);
3. the proposed change to ``medflow.effects._Engine.randomized_world`` applied to a
   monkeypatched copy in this process only (the package's files are not touched): memoise
   the randomized outcome worlds (rNDE's ``Y(a, G_{a*})`` is rNIE's reference world) and
   recompute only the descendants a world needs. Reports CPU seconds before and after and
   the largest difference between the estimates (0 when the change is exact).

Usage: ``python benchmarks/profile_hotspots.py [--fit-epochs 3]``; writes
``benchmarks/results/profile_hotspots.{json,md}``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

import pandas as pd
import torch

import medflow as mf
from _common import environment, markdown_table, write_results
from medflow import effects as effects_module
from medflow.flow import NodeFlows
from medflow.training import _nll


def step_cpu_ms(fit, batch_size: int, threads: int, steps: int = 30):
    """(CPU ms per step, wall ms per step, the step function) with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    flow = NodeFlows(fit.mask, ensemble=1, generator=torch.Generator().manual_seed(0), **fit.config)
    flow.load_state_dict(fit.flow.state_dict())
    opt = torch.optim.AdamW(flow.parameters(), lr=1e-3)
    x = fit._to_tensor(fit.data.to_numpy()[:batch_size]).unsqueeze(0)
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))

    def one():
        loss = _nll(flow, x, u, fit.disc_step).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        one()
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        one()
    return 1000 * (time.process_time() - c0) / steps, 1000 * (time.perf_counter() - w0) / steps, one


def patched_randomized_world(self, a_outcome, a_mediator, mediators):
    """Proposed ``_Engine.randomized_world``: same values, fewer node inversions."""
    level = {"a": self.a, "a_ref": self.a_ref}
    idx = [self.var.index(m) for m in mediators]
    memo = self.__dict__.setdefault("_rand_memo", {})
    out_key = (a_outcome, a_mediator, tuple(idx))
    if out_key in memo:
        return memo[out_key]
    key = (a_mediator, tuple(idx))
    if key not in self._draws:
        fresh = self.fresh_noise()
        anc = set().union(*(self.fit.dag.ancestors(self.var[m]) for m in idx))
        need = {j for j in self.desc if j in idx or self.var[j] in anc}
        xg = self.fit._generate(fresh, self.units.x, {self.A: level[a_mediator]}, need, self.flow)
        self._draws[key] = {m: xg[..., m] for m in idx}
    anc_y = self.fit.dag.ancestors(self.var[self.Y])
    need_y = {j for j in self.desc if j == self.Y or self.var[j] in anc_y}
    xy = self.fit._generate(self.units.eps, self.units.x, {self.A: level[a_outcome]}, need_y,
                            self.flow, fixed=self._draws[key])
    memo[out_key] = xy[..., self.Y]
    return memo[out_key]


def query_cpu(fn, repeats: int) -> tuple[float, float, object]:
    fn()
    cpu, wall, out = [], [], None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return min(cpu), statistics.median(wall), out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20700)
    p.add_argument("--fit-epochs", type=int, default=3, help="a short fit is enough to time queries")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    env = environment(1)
    sim = mf.datasets.simulate("nonlinear", args.n, 0)
    fit = mf.CausalFlow(sim.model, sim.data, hidden=args.hidden).fit(
        epochs=args.fit_epochs, batch_size=args.batch_size, lr=1e-2, verbose=False)
    rows = []
    # 1. training step
    ms1, wall1, one = step_cpu_ms(fit, args.batch_size, 1)
    ms2, wall2, _ = step_cpu_ms(fit, args.batch_size, 2)
    torch.set_num_threads(1)
    rows += [dict(what=f"training step, batch {args.batch_size}, 1 thread", cpu_ms=ms1, wall_median_ms=wall1),
             dict(what=f"training step, batch {args.batch_size}, 2 threads", cpu_ms=ms2, wall_median_ms=wall2)]
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            one()
    step_table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    # 2. effect query
    truth = sim.truth.set_index("label")
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])

    def query():
        return fit.effects("X", "Y", mediators=["W", "U"], a=a, a_ref=a_ref, seed=0)

    pr = cProfile.Profile()
    pr.enable()
    query()
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(18)
    # 3. proposed fix, on a patched copy
    original = effects_module._Engine.randomized_world
    c0, w0, r0 = query_cpu(query, args.repeats)
    effects_module._Engine.randomized_world = patched_randomized_world
    try:
        c1, w1, r1 = query_cpu(query, args.repeats)
    finally:
        effects_module._Engine.randomized_world = original
    diff = float((r0.params - r1.params).abs().max())
    rows += [dict(what="effects W,U + rNDE/rNIE: current", cpu_ms=1000 * c0, wall_median_ms=1000 * w0),
             dict(what="effects W,U + rNDE/rNIE: patched randomized_world", cpu_ms=1000 * c1,
                  wall_median_ms=1000 * w1, max_abs_difference=diff)]
    md = (markdown_table(pd.DataFrame(rows), 3)
          + f"\n\nPatched query CPU: {100 * (1 - c1 / c0):.0f}% less; largest difference in the estimates {diff:g}.\n\n"
          + "Top operators of a training step (torch.profiler, 10 steps):\n\n```\n" + step_table
          + "\n```\n\nEffect query (cProfile, cumulative):\n\n```\n" + buf.getvalue()[:6000] + "\n```\n")
    return write_results("profile_hotspots", env, rows, md)


if __name__ == "__main__":
    main()
