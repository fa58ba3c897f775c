"""Monte Carlo error of the randomized interventional effects (rNDE/rNIE) over effects seeds.

For each (model, N) the flow is fitted once (fit seed 0); then ``fit.effects`` runs with
``--seeds`` different effects seeds. The spread of an estimate over the seeds is its Monte
Carlo error for that fit (the seed only moves the random draws: fresh mediator draws for
the randomized effects, abduction draws of discrete nodes). Reported per effect, in SD(Y)
units: the SD and the range (max - min) over the seeds, and the mean of the ``mc_error``
the library reports. Target (issue 14): MC error of rNDE/rNIE <= 0.005 SD(Y), a seed moving
rNIE by less than 0.01 SD(Y).

``--compare-one-draw`` adds the estimator used before (one independent mediator draw per
unit and treatment level) for the same fit and seeds.

Usage::

    python benchmarks/mc_error.py --threads 1                       # blau_duncan N = 20,700 and 600
    python benchmarks/mc_error.py --runs blau_duncan:3000 --seeds 12 --compare-one-draw

Writes ``benchmarks/results/<name>.{json,md}`` (default name ``mc_error``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

import medflow as mf
import medflow.effects as mfe
from _common import environment, markdown_table, write_results

LABELS = ("TE", "NDE via W", "NIE via W", "rNDE via W", "rNIE via W",
          "NDE via U", "NIE via U", "rNDE via U", "rNIE via U")


class _OneDrawEngine(mfe._Engine):
    """The estimator before issue 14: one independent fresh mediator draw per unit and level."""

    def randomized_world(self, a_outcome, a_mediator, mediators):
        level = {"a": self.a, "a_ref": self.a_ref}
        idx = tuple(self.var.index(m) for m in mediators)
        key = ("one", a_mediator, idx)
        if key not in self._draws:
            z = torch.randn(self.units.eps.shape, generator=self.gen, dtype=torch.float64)
            xg = self.fit._generate(self.fresh_noise(z), self.units.x, {self.A: level[a_mediator]},
                                    self.desc, self.flow)
            self._draws[key] = {m: xg[..., m] for m in idx}
        xy = self.fit._generate(self.units.eps, self.units.x, {self.A: level[a_outcome]}, self.desc,
                                self.flow, fixed=self._draws[key])
        return xy[..., self.Y]


def fit_model(dgp: str, n: int, epochs: int | None):
    sim = mf.datasets.simulate(dgp, n, seed=1)
    opts = {} if epochs is None else {"epochs": epochs}
    t0 = time.perf_counter()
    fit = mf.CausalFlow(sim.model, sim.data).fit(seed=0, verbose=False, **opts)
    return sim, fit, time.perf_counter() - t0


def over_seeds(fit, sim, seeds: int, engine=None) -> tuple[pd.DataFrame, float]:
    saved = mfe._Engine
    if engine is not None:
        mfe._Engine = engine
    try:
        t = sim.truth.iloc[0]
        est, mc, secs = [], [], []
        for s in range(seeds):
            t0 = time.perf_counter()
            res = fit.effects(sim.treatment, sim.outcome, mediators=["W", "U"], a=float(t["a"]),
                              a_ref=float(t["a_ref"]), seed=s, verbose=False)
            secs.append(time.perf_counter() - t0)
            tab = res.table.set_index("label")
            est.append(tab["estimate"])
            mc.append(tab["mc_error"])
    finally:
        mfe._Engine = saved
    sd_y = float(sim.data[sim.outcome].std())
    est, mc = pd.concat(est, axis=1) / sd_y, pd.concat(mc, axis=1) / sd_y
    out = pd.DataFrame({"sd_over_seeds": est.std(axis=1, ddof=1),
                        "range_over_seeds": est.max(axis=1) - est.min(axis=1),
                        "reported_mc_error": mc.mean(axis=1),
                        "mean_estimate": est.mean(axis=1)}).reindex(list(LABELS))
    return out, float(np.median(secs))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=["blau_duncan:20700", "blau_duncan:600"],
                   help="model:N pairs (default blau_duncan:20700 blau_duncan:600)")
    p.add_argument("--seeds", type=int, default=12, help="effects seeds per fit (default 12)")
    p.add_argument("--epochs", type=int, default=None, help="fit epochs (default: the library's)")
    p.add_argument("--compare-one-draw", action="store_true",
                   help="also run the one-draw estimator used before issue 14")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="mc_error")
    args = p.parse_args(argv)
    env = environment(args.threads)
    rows, md = [], [f"Effects seeds 0..{args.seeds - 1} on one fit (fit seed 0) per row block; "
                    "all numbers in SD(Y) units; target: MC error of rNDE/rNIE <= "
                    f"{mfe.MC_TARGET_SD} SD(Y).", ""]
    for run in args.runs:
        dgp, n = run.split(":")
        sim, fit, fit_s = fit_model(dgp, int(n), args.epochs)
        variants = [("antithetic, common draws", None)]
        if args.compare_one_draw:
            variants.append(("one draw (before)", _OneDrawEngine))
        for name, engine in variants:
            tab, secs = over_seeds(fit, sim, args.seeds, engine)
            draws = mfe.mc_draws(int(n)) if engine is None else 1
            for label, r in tab.iterrows():
                rows.append(dict(dgp=dgp, n=int(n), estimator=name, draws_per_unit=draws, label=label,
                                 fit_seconds=fit_s, effects_seconds=secs, **r.to_dict()))
            show = tab.reset_index().rename(columns={"index": "label"})
            md += [f"## {dgp}, N = {int(n):,}: {name} ({draws} draw(s) per unit; effects query "
                   f"{secs:.2f} s median; fit {fit_s:.0f} s)", "", markdown_table(show, 4), ""]
    return write_results(args.name, env, rows, "\n".join(md))


if __name__ == "__main__":
    main()
