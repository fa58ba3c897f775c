"""CPU time of the splines at a training step: zuko's construction against ``medflow.flow.Spline``.

Builds the splines of a 5-member, 5-node ensemble from random conditioner outputs at the
training batch of N = 20,700 (4,096 rows, 8 bins), applies them (``call_and_ladj``) and
back-propagates, with zuko's ``MonotonicRQSTransform`` and with medflow's ``Spline`` (the
same spline, knots built by exp / sum instead of ``torch.softmax``). Also times the softmax
alone over a last dimension of 8 against exp / sum, and reports the largest difference of
the outputs and gradients between the two classes.

Usage::

    python benchmarks/spline_knots.py [--reps 30] [--batch 4096]

Writes ``benchmarks/results/spline_knots.{json,md}``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from zuko.transforms import MonotonicRQSTransform

from _common import environment, markdown_table, set_threads, write_results
from medflow.flow import Spline


def cpu_ms(fn, reps: int) -> float:
    for _ in range(3):
        fn()
    t = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t) / reps * 1e3


def step(cls, p: torch.Tensor, x: torch.Tensor, bins: int):
    p.grad = None
    y, ladj = cls(p[..., :bins], p[..., bins:2 * bins], p[..., 2 * bins:]).call_and_ladj(x)
    (y.square().sum() + ladj.sum()).backward()
    return y.detach(), p.grad.clone()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--bins", type=int, default=8)
    args = ap.parse_args()
    set_threads(1)
    env = environment(1)
    g = torch.Generator().manual_seed(0)
    E, d, K = 5, 5, args.bins
    p = torch.randn(E, args.batch, d, 3 * K - 1, generator=g).requires_grad_()
    x = torch.randn(E, args.batch, d, generator=g) * 2
    rows = []
    for name, cls in (("zuko MonotonicRQSTransform", MonotonicRQSTransform), ("medflow Spline", Spline)):
        rows.append(dict(what=f"{name}: build + call_and_ladj + backward",
                         cpu_ms=cpu_ms(lambda: step(cls, p, x, K), args.reps)))
    y_z, g_z = step(MonotonicRQSTransform, p, x, K)
    y_m, g_m = step(Spline, p, x, K)
    w = p.detach()[..., :K].contiguous()
    rows.append(dict(what=f"torch.softmax over {K}", cpu_ms=cpu_ms(lambda: torch.softmax(w, -1), args.reps)))

    def exp_sum():
        e = (w - w.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)
    rows.append(dict(what=f"exp / sum over {K}", cpu_ms=cpu_ms(exp_sum, args.reps)))
    diff = dict(max_abs_diff_output=float((y_z - y_m).abs().max()),
                max_abs_diff_gradient=float((g_z - g_m).abs().max()),
                max_abs_gradient=float(g_z.abs().max()),
                gradients_differing_by_1e_4=float(((g_z - g_m).abs() > 1e-4).float().mean()))
    ratio = rows[0]["cpu_ms"] / rows[1]["cpu_ms"]
    md = (f"Shapes: {E} members x {args.batch} rows x {d} nodes, {K} bins, float32, one thread; "
          f"CPU ms per call, mean of {args.reps}.\n\n" + markdown_table(pd.DataFrame(rows))
          + f"\n\nzuko / medflow: {ratio:.2f}x. Largest difference, outputs "
          f"{diff['max_abs_diff_output']:.1e}, gradients {diff['max_abs_diff_gradient']:.1e} "
          f"(largest gradient {diff['max_abs_gradient']:.1e}; share differing by more than 1e-4: "
          f"{diff['gradients_differing_by_1e_4']:.1e}; float32 rounding, the float64 test in "
          f"tests/python/test_flow.py agrees to 1e-10).\n")
    write_results("spline_knots", env, rows, md, extra=dict(args=vars(args), ratio=ratio, **diff))


if __name__ == "__main__":
    main()
