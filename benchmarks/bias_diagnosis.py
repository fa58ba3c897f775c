"""Where does the flow's finite-sample bias at N = 20,700 come from? (issue #13, item 4)

The validation study (``benchmarks/results/validation_20700_ensemble``) found the cross-fitted
ensemble's effects biased by -0.018 (TE) on ``nonlinear`` and +0.022 (TE, NIE via U) on
``blau_duncan`` (SD(Y) units). This script runs cheap, targeted checks on the first data sets of
that study (the same data seeds and fit seeds, so the ``default`` variant reproduces its
replications):

1. the truth oracle: the contrast the truth is computed at against the one the study passes to the
   flow, the truth's Monte Carlo error, a fresh Monte Carlo truth with another seed;
2. fit variants (one changed setting each): ``linear_nodes="none"``, an L-BFGS polish of every
   member after Adam, more spline bins / a wider spline range / a wider conditioner, dequantized
   instead of interval likelihood for discrete nodes, the last epoch instead of the best held-out
   one, 80 epochs;
3. for the default fit, which node's equation carries the error: the effects recomputed with the
   flow's equation for one node and the true structural equation (with the unit's true noise) for
   the others, and the reverse.

Errors are reported against the population truth (what the validation study measures) and
against the sample truth (the same effects averaged over the data set's own units and noise,
which removes the units' sampling error from the comparison). Every fit records its CPU seconds.

At N = 2,000 (issue #14: the nonlinear TE's bias there) the same checks run with ``--n 2000`` on
the validation study's 40 data sets, with the small-data variants (150 epochs, no weight
averaging, other learning rates, standardized inputs, no weight decay); each variant's TE is
compared with the default fit of the same data set (paired, so the data's own error cancels).

    nice -n 10 python benchmarks/bias_diagnosis.py --dgps nonlinear blau_duncan --reps 3
    python benchmarks/bias_diagnosis.py --variants "polish 25" --reps 1 --no-nodes   # a subset
    python benchmarks/bias_diagnosis.py --equations /tmp/fits --reps 1   # fits saved by --save-dir
    python benchmarks/bias_diagnosis.py --merge NAME1 NAME2 --name bias_diagnosis

Results: ``benchmarks/results/bias_diagnosis.{json,md}`` (``--name`` changes the stem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, markdown_table  # noqa: E402
ESTIMANDS = ("TE", "NIE via U", "NDE via W")
#: paths from X to Y in the Blau-Duncan graph, by the mediators they pass through
_PATHS = (("X", "Y"), ("X", "U", "Y"), ("X", "W", "Y"), ("X", "U", "W", "Y"))
_NOISE_COLUMN = {"U": 2, "W": 3, "Y": 4}


# ====================================================================== fit variants
def _polish(members, x, disc_step, interval, iters: int) -> dict:
    """Full-batch L-BFGS (strong Wolfe) on every member's training rows, in place."""
    from medflow.training import node_log_lik

    flow = members.flow
    k = flow.E
    tw = members.train_weights.to(x.dtype)
    params = [p for p in flow.parameters() if p.requires_grad]
    xe = x.expand(k, -1, -1)
    u = torch.full_like(xe, 0.5)

    def loss_fn():
        nll = -node_log_lik(flow, xe, u, disc_step, interval).sum(-1)
        return ((nll * tw).sum(1) / tw.sum(1)).sum()

    with torch.no_grad():
        before = float(loss_fn()) / k
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        after = float(loss_fn()) / k
    return dict(train_nll_before=before, train_nll_after=after)


class _Patch:
    """Temporarily wrap ``medflow.crossfit.train_members`` / ``medflow.crossfit.train``."""

    def __init__(self, polish_iters: int = 0, last_epoch: bool = False):
        self.polish_iters, self.last_epoch, self.info = polish_iters, last_epoch, {}

    def __enter__(self):
        import medflow.crossfit as cf

        self._tm, self._train = cf.train_members, cf.train
        patch = self

        def train_members(x, disc_step, mask, config, settings, tw, vw, gen, *, interval=None, **kw):
            m = patch._tm(x, disc_step, mask, config, settings, tw, vw, gen, interval=interval, **kw)
            if patch.polish_iters:
                patch.info.update(_polish(m, x, disc_step, interval, patch.polish_iters))
            return m

        def train(flow, *args, **kw):
            if not patch.last_epoch:
                return patch._train(flow, *args, **kw)
            flow.load_state_dict = lambda *a, **k: None  # keep the weights of the last epoch
            try:
                return patch._train(flow, *args, **kw)
            finally:
                del flow.load_state_dict

        cf.train_members, cf.train = train_members, train
        return self

    def __exit__(self, *exc):
        import medflow.crossfit as cf

        cf.train_members, cf.train = self._tm, self._train


#: name -> (CausalFlow keyword arguments, fit keyword arguments, patch keyword arguments)
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "default": ({}, {}, {}),
    "linear none": ({}, dict(linear_nodes="none"), {}),
    "polish 60": ({}, {}, dict(polish_iters=60)),
    "polish 25": ({}, {}, dict(polish_iters=25)),
    "last epoch": ({}, {}, dict(last_epoch=True)),
    "bins 16": (dict(bins=16), {}, {}),
    "bound 8, bins 12": (dict(bound=8.0, bins=12), {}, {}),
    "hidden 32": (dict(hidden=32), {}, {}),
    "dequantize": ({}, dict(discrete_likelihood="dequantize"), {}),
    "80 epochs": ({}, dict(epochs=80), {}),
    "150 epochs": ({}, dict(epochs=150), {}),
    "average 0": ({}, dict(average=0.0), {}),
    "lr 0.015": ({}, dict(lr=0.015), {}),
    "lr 0.03": ({}, dict(lr=0.03), {}),
    "standardized inputs": (dict(inputs="standardized"), {}, {}),
    "weight decay 0": ({}, dict(weight_decay=0.0), {}),
}


# ====================================================================== effects with oracle nodes
def _effects(fit, sim, true_nodes=(), flow_seed: int = 0) -> dict[str, float]:
    """TE, NIE via U and NDE via W (outcome units) from the flow's counterfactual engine, with
    the nodes ``true_nodes`` computed from the true structural equation and the unit's true noise."""
    from medflow import effects as fx

    scm = fx_scm(sim.dgp)
    noise = sim.noise[["V", "X", "U", "W", "Y"]].to_numpy()
    enc = fit.encoding
    var = list(fit.variables)
    loc, scale = np.asarray(enc.loc, dtype=float), np.asarray(enc.scale, dtype=float)
    truth = sim.truth.set_index("label")
    a, a_ref = float(truth["a"].iloc[0]), float(truth["a_ref"].iloc[0])
    true_idx = {var.index(n) for n in true_nodes}

    class Oracle(fx._Engine):
        def _node(self, j, x):
            if j not in true_idx:
                return super()._node(j, x)
            xo = x.double().numpy() * scale + loc
            col = {n: xo[..., var.index(n)] for n in var}
            e = noise[:, _NOISE_COLUMN[var[j]]][None, :]
            if var[j] == "U":
                v = scm.u(col["V"], col["X"], e)
            elif var[j] == "W":
                v = scm.w(col["U"], col["X"], e)
            else:
                v = scm.y(col["U"], col["X"], col["W"], e)
            return torch.as_tensor((v - loc[j]) / scale[j], dtype=x.dtype)

    gen = torch.Generator().manual_seed(flow_seed)
    flow = fit.flow
    units = fx._units(fit, flow, None, None, None, gen, None)
    with torch.no_grad():
        eng = Oracle(fit, flow, units, "X", "Y", a, a_ref, gen)

        def world(avoid):
            return eng.path_world([p for p in _PATHS if not set(avoid) & set(p)])

        every, none = world(()), eng.path_world([])
        no_u, no_w = world(("U",)), world(("W",))
        out = {"TE": (every, none), "NIE via U": (every, no_u), "NDE via W": (no_w, none)}
        return {k: float(eng.contrast(hi, lo)[0].mean()) for k, (hi, lo) in out.items()}


def fx_scm(dgp: str):
    from medflow.simulation.designs import _SCMS

    return _SCMS[dgp]


# ====================================================================== one equation on a grid
_PARENTS = {"U": ("V", "X"), "W": ("U", "X"), "Y": ("U", "X", "W")}


@torch.no_grad()
def equation_grid(fit, sim, node: str, grid, draws: int = 4, seed: int = 0, units: int = 4000) -> pd.DataFrame:
    """Mean of ``node`` over the data set's units with X set to each value of ``grid`` and the
    other parents at their observed values, under the flow's equation (members averaged) and
    under the true one (same number of noise draws; common draws across the grid). ``units``:
    the first so many rows."""
    scm = fx_scm(sim.dgp)
    var = list(fit.variables)
    j, ix = var.index(node), var.index("X")
    data = sim.data[var].to_numpy(dtype=float)[:units]
    flow = fit.flow
    x0 = fit._to_tensor(data)
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(draws, flow.E, len(data), generator=g, dtype=x0.dtype)
    e_true = np.random.default_rng(seed).standard_normal((draws, len(data)))
    enc = fit.encoding
    rows = []
    for value in grid:
        x = x0.clone()
        x[:, ix] = float((value - enc.loc[ix]) / enc.scale[ix])
        xe = x.expand(flow.E, -1, -1)
        vals = []
        for k in range(draws):
            v = flow.inverse_node(j, eps[k], xe)
            v = fit._discretize(j, v) if fit.disc_step[j] > 0 else v
            vals.append(float(v.double().mean()) * enc.scale[j] + enc.loc[j])
        col = {n: data[:, var.index(n)] for n in var}
        col["X"] = np.full(len(data), float(value))
        fn = {"U": lambda e: scm.u(col["V"], col["X"], e), "W": lambda e: scm.w(col["U"], col["X"], e),
              "Y": lambda e: scm.y(col["U"], col["X"], col["W"], e)}[node]
        truth = float(np.mean([fn(e_true[k]).mean() for k in range(draws)]))
        rows.append(dict(dgp=sim.dgp, node=node, X=float(value), flow=float(np.mean(vals)), truth=truth))
    out = pd.DataFrame(rows)
    sd = float(sim.data[node].std())
    out["error_sd_node"] = (out["flow"] - out["truth"]) / sd
    return out


def equation_check(fit_dir: Path, dgps, n: int, reps: int, log=print, nodes=("U", "W", "Y")) -> list[dict]:
    """:func:`equation_grid` for U, W and Y of the saved default fits."""
    import medflow as mf

    rows = []
    for dgp in dgps:
        for rep in range(reps):
            path = Path(fit_dir) / f"{dgp}_{rep}"
            if not path.exists():
                continue
            fit = mf.load(path)
            sim = mf.datasets.simulate(dgp, n, seed=_data_seed(dgp, n, rep))
            t = sim.truth.set_index("label")
            a, a_ref = float(t["a"].iloc[0]), float(t["a_ref"].iloc[0])
            qs = np.quantile(sim.data["X"], [0.05, 0.25, 0.5, 0.75, 0.95])
            grid = sorted({a_ref, a, *np.round(qs, 3 if dgp == "nonlinear" else 0)})
            for node in nodes:
                frame = equation_grid(fit, sim, node, grid).assign(rep=rep)
                rows += frame.to_dict(orient="records")
                log(frame.to_string(index=False))
    return rows


# ====================================================================== the oracle check
def oracle_check(dgps, n: int) -> list[dict]:
    """The contrast and Monte Carlo error of the shipped truth, and a fresh Monte Carlo truth."""
    import medflow as mf
    from medflow.simulation.truth import _mc_truth

    rows = []
    for dgp in dgps:
        sim = mf.datasets.simulate(dgp, 50, seed=0)
        scm = fx_scm(dgp)
        t = sim.truth.set_index("label")
        a, a_ref = float(t["a"].iloc[0]), float(t["a_ref"].iloc[0])
        quant = scm.default_contrast()
        fresh = _mc_truth(scm, a, a_ref, n_mc=1_000_000, seed=12345).set_index("label")
        sd_y = float(sim.truth.attrs["sd_y"])
        for label in ESTIMANDS:
            rows.append(dict(dgp=dgp, label=label, a=a, a_ref=a_ref, scm_a=quant[0], scm_a_ref=quant[1],
                             truth_sd=float(t.loc[label, "truth"]) / sd_y,
                             mc_error_sd=float(t.loc[label, "mc_error"]) / sd_y,
                             fresh_minus_shipped_sd=(float(fresh.loc[label, "truth"])
                                                     - float(t.loc[label, "truth"])) / sd_y))
    return rows


# ====================================================================== main
def _data_seed(dgp: str, n: int, rep: int) -> int:
    from medflow.validation import _seed

    return _seed(0, dgp, n, rep)


def run(dgps, n, reps, variants, oracle_nodes: bool, out: Path, log=print, save_dir=None) -> dict:
    import medflow as mf

    torch.set_num_threads(1)
    result = dict(started=time.strftime("%Y-%m-%d %H:%M:%S"), load_start=os.getloadavg(), n=n,
                  torch=torch.__version__, oracle=oracle_check(dgps, n), fits=[], nodes=[])
    log(pd.DataFrame(result["oracle"]).to_string())
    for variant in variants:
        flow_kw, fit_kw, patch_kw = VARIANTS[variant]
        for dgp in dgps:
            if variant == "dequantize" and dgp != "blau_duncan":
                continue  # no discrete node elsewhere
            for rep in range(reps):
                seed = _data_seed(dgp, n, rep)
                sim = mf.datasets.simulate(dgp, n, seed=seed)
                pop = sim.truth.set_index("label")["truth"]
                sd_y = float(sim.truth.attrs["sd_y"])
                sample = sim.sample_truth().set_index("label")["truth"]
                cpu, wall = time.process_time(), time.perf_counter()
                with _Patch(**patch_kw) as patch:
                    fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete),
                                        continuous=[v for v in sim.data.columns if v not in sim.discrete],
                                        **flow_kw).fit(seed=seed % (2**31), verbose=False, **fit_kw)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                est = _effects(fit, sim, flow_seed=seed % (2**31))
                if save_dir is not None and variant == "default":
                    fit.save(Path(save_dir) / f"{dgp}_{rep}")
                lin = fit.linearity()
                row = dict(variant=variant, dgp=dgp, rep=rep, data_seed=seed, cpu_s=cpu, wall_s=wall,
                           linear_nodes=list(fit.fit_info["linear_nodes"]),
                           z={r.node: round(float(r.z), 1) for r in lin.itertuples()},
                           best_epochs=fit.fit_info["best_epochs"], **patch.info)
                for label in ESTIMANDS:
                    row[f"{label} err_pop"] = (est[label] - float(pop[label])) / sd_y
                    row[f"{label} err_sample"] = (est[label] - float(sample[label])) / sd_y
                result["fits"].append(row)
                log(f"{variant:>18} {dgp:>12} rep {rep}: "
                    + "  ".join(f"{lb} {row[f'{lb} err_pop']:+.4f} ({row[f'{lb} err_sample']:+.4f})"
                                for lb in ESTIMANDS)
                    + f"  linear {row['linear_nodes']}  cpu {cpu:.0f}s")
                if oracle_nodes and variant == "default":
                    for label_set in (("U", "W", "Y"), ("W", "Y"), ("U", "Y"), ("U", "W"),
                                      ("U",), ("W",), ("Y",)):
                        e = _effects(fit, sim, label_set, flow_seed=seed % (2**31))
                        flow_nodes = [v for v in ("U", "W", "Y") if v not in label_set]
                        nrow = dict(dgp=dgp, rep=rep, flow_nodes="+".join(flow_nodes) or "none")
                        for label in ESTIMANDS:
                            nrow[f"{label} err_sample"] = (e[label] - float(sample[label])) / sd_y
                        result["nodes"].append(nrow)
                        log(f"{'':>18} flow for {nrow['flow_nodes']:>6}: " + "  ".join(
                            f"{lb} {nrow[f'{lb} err_sample']:+.4f}" for lb in ESTIMANDS))
                result["load_end"] = os.getloadavg()
                write(result, out)
    return result


def _summary(fits: pd.DataFrame) -> pd.DataFrame:
    cols = [f"{lb} err_pop" for lb in ESTIMANDS] + [f"{lb} err_sample" for lb in ESTIMANDS]
    g = fits.groupby(["variant", "dgp"], sort=False)
    out = g[cols].mean()
    out["TE sd"] = g["TE err_pop"].std()
    out["fits"] = g.size()
    out["cpu_s"] = g["cpu_s"].mean()
    # each variant's TE against the default fit of the same data sets (paired: the data's own
    # error cancels), with the SE of that mean difference
    base = fits[fits["variant"] == "default"].set_index(["dgp", "rep"])["TE err_pop"]
    diff, se = [], []
    for (variant, dgp), f in g:
        d = (f.set_index(["dgp", "rep"])["TE err_pop"] - base).dropna()
        diff.append(d.mean() if variant != "default" and len(d) else np.nan)
        se.append(d.std() / np.sqrt(len(d)) if variant != "default" and len(d) > 1 else np.nan)
    out["TE minus default"], out["its SE"] = diff, se
    return out.reset_index()


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = [f"# Bias diagnosis at N = {result['n']:,} (`benchmarks/bias_diagnosis.py`)", "",
             f"Started {result['started']}, load {result['load_start']} -> {result.get('load_end')}; "
             f"torch {result['torch']}, one thread. Errors in population SD(Y) units: `pop` against "
             "the population truth, `sample` against the same effects over the data set's own units "
             "and noise.", "", "## Truth oracle", ""]
    lines.append(markdown_table(pd.DataFrame(result["oracle"]), 5))
    if result["fits"]:
        fits = pd.DataFrame(result["fits"])
        lines += ["", "## Mean error per variant (data sets = the validation study's first replications)", "",
                  markdown_table(_summary(fits), 4), "", "## Every fit", "",
                  markdown_table(fits.drop(columns=["data_seed"]), 4)]
    if result["nodes"]:
        nodes = pd.DataFrame(result["nodes"])
        mean = nodes.groupby(["dgp", "flow_nodes"], sort=False).mean(numeric_only=True).drop(columns="rep")
        lines += ["", "## Which equation carries the error (default fit; other nodes true)", "",
                  "The effects recomputed with the flow's equations for `flow_nodes` and the true "
                  "structural equations, with each unit's true noise, for the other mediators and Y; "
                  "error against the sample truth.", "",
                  markdown_table(mean.reset_index(), 4)]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dgps", nargs="+", default=["nonlinear", "blau_duncan"])
    ap.add_argument("--n", type=int, default=20700)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--no-nodes", action="store_true", help="skip the per-node oracle substitution")
    ap.add_argument("--name", default="bias_diagnosis")
    ap.add_argument("--merge", nargs="+", metavar="NAME",
                    help="only merge the results of earlier runs (their --name) into --name")
    ap.add_argument("--equations", metavar="DIR",
                    help="only the equation check of the default fits saved in DIR (--save-dir)")
    ap.add_argument("--nodes", nargs="+", default=["U", "W", "Y"], help="equations to check")
    ap.add_argument("--save-dir", help="save the default fits there (for a later look at one equation)")
    args = ap.parse_args(argv)
    if args.merge:
        parts = [json.loads((RESULTS / f"{m}.json").read_text()) for m in args.merge]
        # the oracle does not depend on the variant: keep one row per (dgp, estimand)
        oracle = list({(r["dgp"], r["label"]): r for p in parts for r in p["oracle"]}.values())
        merged = dict(parts[0], oracle=oracle,
                      fits=[r for p in parts for r in p["fits"]], nodes=[r for p in parts for r in p["nodes"]],
                      load_end=parts[-1].get("load_end"), merged_from=list(args.merge))
        write(merged, RESULTS / args.name)
        return 0
    if args.equations:
        rows = equation_check(Path(args.equations), args.dgps, args.n, args.reps,
                              log=lambda s: print(s, flush=True), nodes=args.nodes)
        out = RESULTS / args.name
        out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
        frame = pd.DataFrame(rows)
        mean = frame.groupby(["dgp", "node", "X"], sort=False).mean(numeric_only=True).drop(columns="rep")
        out.with_suffix(".md").write_text(
            "# Equation check: mean of each node with X set, other parents observed\n\n"
            "Flow's equation (members averaged) against the true one, over the data set's units; "
            "`error_sd_node` in SDs of the node. Mean over the saved default fits.\n\n"
            + markdown_table(mean.reset_index(), 4) + "\n")
        return 0
    run(args.dgps, args.n, args.reps, args.variants, not args.no_nodes, RESULTS / args.name,
        log=lambda s: print(s, flush=True), save_dir=args.save_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
