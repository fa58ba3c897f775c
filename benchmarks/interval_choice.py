"""Score bootstrap interval constructions on the same refits, and decompose their spread.

Reads a coverage study run with ``--save-draws`` (``benchmarks/coverage_study.py``): for
every replication and flow effect, the fit's member values and the bootstrap replicates'
member values before shrinking. Each construction below turns them into an interval; its
coverage of the truth over replications is reported with its Monte Carlo SE, beside the
mean width over ``2 z`` times the SD of the estimates over replications (1 = as wide as
the sampling spread asks).

Constructions:

* ``raw percentile``: the library's since 2026-12-01: percentiles of the replicate means as
  they are (:func:`medflow.estimands.replicate_means`, :func:`medflow.estimands.interval`).
* ``shrunk percentile``: the library's before: the replicates' deviations from their mean
  scaled by ``c = sqrt(1 - s2 (1/per - 1/K) / var(replicates))``, floored at
  ``sqrt(per / K)``, ``s2`` the pooled member variance within the fit (``K - 1`` degrees of
  freedom) and within replicates (``per - 1`` each): the Monte Carlo correction of Wager,
  Hastie and Efron (2014) applied to the optimiser's noise.
* ``shrunk basic``: ``2 * estimate - q``, the reverse percentile interval.
* ``shrunk normal``: ``estimate +- z * SD(shrunk replicates)``.
* ``within s2``: shrunk with the optimiser variance estimated from the replicates' own
  members only (needs two or more members per replicate).

The spread table compares, per effect, the SD of the estimates over replications (what an
interval must match) with the root mean of the replicates' raw variance, of the optimiser
variance ``s2`` from the fit's members and from the replicates' members, and of the shrunk
replicates' variance; then both spreads net of the optimiser (``sampling sd net``: the
estimates' variance less the mean ``s2 / K`` of a ``K``-member fit; ``bootstrap sd net``: the
replicates' mean variance less the mean within-replicate ``s2 / per``, or the fit's ``s2`` where a
replicate has one member) and their ratio, which is 1 where the bootstrap's sampling part is right. ``bias`` is the estimates' mean error against
the truth, ``bootstrap_bias`` the replicates' mean less the fit's, averaged over replications:
the bootstrap's own estimate of that bias.

    python benchmarks/interval_choice.py benchmarks/results/coverage_2000_b8

``--draws RUN`` names another run whose ``draws/`` holds replications the run's own lacks (a run
rebuilt from another's draws, then resumed):

    python benchmarks/interval_choice.py benchmarks/results/coverage_2000_asis \
        --draws benchmarks/results/coverage_2000_b8

``--against RUN [RUN ...]`` sets the positional run's replicates against those of the same fits
in other runs (an experiment's resampling against the bootstrap's), paired by replication:

    python benchmarks/interval_choice.py benchmarks/results/coverage_2000_half \
        --against benchmarks/results/coverage_2000_b8

``--rebuild OUT`` writes the positional run's replications that have draws to
``OUT/results.csv`` with the flow's intervals as the library now makes them (a coverage study
resumed there with the same arguments adds the other replications).

``--unshrink RUN`` scores the unshrunk intervals of a run without draws whose first
replications were rerun with draws (the positional run): the shrink is an affine map about the
replicates' mean, so an unshrunk bound is ``m + (bound - m) / c``; replications with draws use
their own ``c`` and ``m`` (exact), the others the mean ``c`` of their effect over the drawn
replications and the interval's midpoint for ``m`` (approximate).

    python benchmarks/interval_choice.py benchmarks/results/coverage_20700_draws \
        --unshrink benchmarks/results/coverage_20700_b8
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from medflow import estimands


def _within_ss(values: np.ndarray, per: int) -> tuple[float, int]:
    """Sum of squares of members about their replicate's mean, and its degrees of freedom."""
    groups = values.reshape(-1, per)
    ss = float(((groups - groups.mean(1, keepdims=True)) ** 2).sum())
    return ss, groups.shape[0] * (per - 1)


def within_s2(values: np.ndarray, per: int) -> float:
    """Member variance within replicates (needs ``per >= 2``)."""
    ss, df = _within_ss(values, per)
    return ss / df


def pooled_s2(values: np.ndarray, members: np.ndarray, per: int) -> float:
    """Member variance pooled within the fit and within replicates."""
    ss, df = _within_ss(values, per)
    return float((((members - members.mean()) ** 2).sum() + ss) / (members.size - 1 + df))


def shrink(values: np.ndarray, members: np.ndarray, per: int, s2: float | None = None
           ) -> tuple[np.ndarray, float]:
    """Replicate means with their spread scaled by ``c`` (the former library construction);
    ``s2`` defaults to :func:`pooled_s2`."""
    reps = estimands.replicate_means(values, per)
    k = members.size
    v_rep = float(np.var(reps, ddof=1))
    if k < 2 or per >= k or not v_rep > 0:
        return reps, 1.0
    s2 = pooled_s2(values, members, per) if s2 is None else s2
    c = math.sqrt(max(1.0 - s2 * (1.0 / per - 1.0 / k) / v_rep, per / k))
    return reps.mean() + c * (reps - reps.mean()), c


def intervals(values: np.ndarray, members: np.ndarray, per: int, level: float) -> dict[str, tuple]:
    """Every construction's ``(lower, upper)`` for one effect of one replication."""
    est = float(members.mean())
    shrunk, _ = shrink(values, members, per)
    raw = estimands.replicate_means(values, per)
    z = stats.norm.ppf(0.5 + level / 2)
    _, lo, hi = estimands.interval(shrunk, level)
    out = {"shrunk percentile": (lo, hi),
           "raw percentile": estimands.interval(raw, level)[1:],
           "shrunk basic": (2 * est - hi, 2 * est - lo),
           "shrunk normal": (est - z * shrunk.std(ddof=1), est + z * shrunk.std(ddof=1))}
    if per > 1:
        within = within_s2(values, per)
        out["within s2"] = estimands.interval(shrink(values, members, per, within)[0], level)[1:]
    return out


def spread(values: np.ndarray, members: np.ndarray, per: int) -> dict[str, float]:
    """Variances behind one replication's interval."""
    raw = estimands.replicate_means(values, per)
    shrunk, c = shrink(values, members, per)
    out = {"raw var": float(np.var(raw, ddof=1)), "fit s2": float(np.var(members, ddof=1)),
           "shrunk var": float(np.var(shrunk, ddof=1)), "c": float(c), "k": members.size, "per": per}
    if per > 1:
        out["within s2"] = within_s2(values, per)
    return out


def _draws_path(run: Path, name: str, extra: tuple[Path, ...] = ()) -> Path | None:
    """``<run>/draws/<name>.npz``, else the first of the ``extra`` folders' ``draws/`` that has it."""
    for folder in (run, *extra):
        path = folder / "draws" / f"{name}.npz"
        if path.exists():
            return path
    return None


def score(run: Path, levels=(0.9, 0.95), extra: tuple[Path, ...] = ()
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage per construction and the spread table of a run directory (draws looked up in
    ``run`` and then in the ``extra`` run directories)."""
    res = pd.read_csv(run / "results.csv")
    flow = res[(res["method"] == "flow") & (res["level"] == levels[0])]
    rows, spreads = [], []
    for (dgp, rep), grp in flow.groupby(["dgp", "rep"]):
        path = _draws_path(run, f"{dgp}_{rep}", extra)
        if path is None:
            continue
        d = np.load(path)
        per = int(d["per"])
        for _, r in grp.iterrows():
            values, members = d[f"{r['label']}|boot"], d[f"{r['label']}|fit"]
            sd_y = float(r["sd_y"])
            shift = float(estimands.replicate_means(values, per).mean() - members.mean())
            spreads.append(dict(dgp=dgp, label=r["label"], rep=rep, estimate=r["estimate"] / sd_y,
                                error=(r["estimate"] - r["truth"]) / sd_y, shift=shift / sd_y,
                                **{k: v / sd_y ** 2 if k not in ("c", "k", "per") else v
                                   for k, v in spread(values, members, per).items()}))
            for lv in levels:
                for name, (lo, hi) in intervals(values, members, per, lv).items():
                    rows.append(dict(dgp=dgp, label=r["label"], rep=rep, level=lv, construction=name,
                                     covered=lo <= r["truth"] <= hi, width=(hi - lo) / sd_y,
                                     estimate=r["estimate"] / sd_y))
    cov = pd.DataFrame(rows)
    sd = cov.groupby(["dgp", "label", "level", "construction"])["estimate"].std()
    z = cov["level"].map(lambda lv: stats.norm.ppf(0.5 + lv / 2))
    cov["z"] = z
    summary = cov.groupby(["dgp", "construction", "level", "label"]).agg(
        reps=("covered", "size"), coverage=("covered", "mean"), width=("width", "mean"), z=("z", "first"))
    summary["mc_se"] = np.sqrt(summary["coverage"] * (1 - summary["coverage"]) / summary["reps"])
    summary["width_ratio"] = summary["width"] / (2 * summary["z"]
                                                 * sd.reorder_levels(summary.index.names))
    spreads = pd.DataFrame(spreads)
    sp = spreads.groupby(["dgp", "label"]).agg(
        reps=("estimate", "size"), sd_estimates=("estimate", "std"),
        **{f"rms {k}": (k, lambda x: float(np.sqrt(np.mean(x)))) for k in ("raw var", "fit s2", "shrunk var")},
        mean_c=("c", "mean"), bias=("error", "mean"), bootstrap_bias=("shift", "mean"))
    g = spreads.groupby(["dgp", "label"])
    within = "within s2" in spreads
    if within:
        sp["rms within s2"] = g["within s2"].agg(lambda x: float(np.sqrt(np.mean(x))))
    # Net of the optimiser: the estimates' spread less the fit's own optimiser variance
    # (s2 / K), the replicates' less theirs (within s2 / per; with one member per replicate,
    # the fit's s2 stands in); their ratio is how far the bootstrap's sampling part is from the
    # sampling spread it estimates.
    opt_fit = g.apply(lambda h: float(np.mean(h["fit s2"] / h["k"])), include_groups=False)
    opt_rep = g.apply(lambda h: float(np.mean(h["within s2" if within else "fit s2"] / h["per"])),
                      include_groups=False)
    net_est = np.sqrt(np.maximum(sp["sd_estimates"] ** 2 - opt_fit, 0.0))
    net_rep = np.sqrt(np.maximum(g["raw var"].mean() - opt_rep, 0.0))
    sp["sampling sd net"] = net_est
    sp["bootstrap sd net"] = net_rep
    sp["net ratio"] = net_rep / net_est
    return summary.drop(columns="z").reset_index(), sp.reset_index()


def to_markdown(summary: pd.DataFrame, sp: pd.DataFrame, run: Path, extra: tuple[Path, ...] = ()) -> str:
    """Coverage per construction (pooled over effects and per effect) and the spread table."""
    also = "".join(f" (draws also from `{e}`)" for e in extra)
    lines = [f"# Interval constructions on the refits of `{run}`{also}", "",
             "Coverage of the truth over replications (Monte Carlo SE in brackets), width / (2 z SD of "
             "the estimates); spreads in SD(Y) units. Script: benchmarks/interval_choice.py.", ""]
    for dgp, g in summary.groupby("dgp"):
        lines += [f"## {dgp}: coverage by construction", "",
                  "| construction | level | pooled coverage | effects in band | coverage range | width ratio range |",
                  "|---|---:|---:|---:|---|---|"]
        for (name, lv), h in g.groupby(["construction", "level"]):
            band = (0.85, 0.95) if lv == 0.9 else (0.90, 0.98)
            inside = int(((h["coverage"] >= band[0] - 1e-9) & (h["coverage"] <= band[1] + 1e-9)).sum())
            lines.append(f"| {name} | {lv:.2f} | {h['coverage'].mean():.3f} | {inside} of {len(h)} | "
                         f"{h['coverage'].min():.2f}–{h['coverage'].max():.2f} | "
                         f"{h['width_ratio'].min():.2f}–{h['width_ratio'].max():.2f} |")
        lines += ["", f"### {dgp}: per effect, 90 % (coverage (MC SE) / width ratio)", ""]
        wide = g[g["level"] == 0.9].pivot(index="label", columns="construction")
        names = list(dict.fromkeys(g["construction"]))
        lines += ["| effect | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for label in wide.index:
            cells = [f"{wide.loc[label, ('coverage', n)]:.2f} ({wide.loc[label, ('mc_se', n)]:.2f}) / "
                     f"{wide.loc[label, ('width_ratio', n)]:.2f}" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    cols = list(sp.columns)
    lines += ["## Spread (SD(Y) units)", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |"
              for row in sp.itertuples(index=False)]
    lines.append("")
    return "\n".join(lines)


def unshrink(run: Path, drawn: Path) -> str:
    """Coverage of the unshrunk intervals of ``run`` (shrunk intervals, no draws), using the draws
    of its first replications in ``drawn``; a markdown report."""
    res = pd.read_csv(run / "results.csv")
    res = res[res["method"] == "flow"]
    exact = {}
    for path in sorted((drawn / "draws").glob("*.npz")):
        dgp, rep = path.stem.rsplit("_", 1)
        d = np.load(path)
        per = int(d["per"])
        for key in d.files:
            if key.endswith("|boot"):
                label = key[:-5]
                reps, c = shrink(d[key], d[f"{label}|fit"], per)
                exact[(dgp, int(rep), label)] = (c, float(estimands.replicate_means(d[key], per).mean()))
    mean_c = pd.Series({k: v[0] for k, v in exact.items()}).groupby(level=[0, 2]).mean()
    rows = []
    for r in res.itertuples():
        key = (r.dgp, r.rep, r.label)
        c, m = exact[key] if key in exact else (mean_c[(r.dgp, r.label)], (r.ci_lower + r.ci_upper) / 2)
        lo, hi = m + (r.ci_lower - m) / c, m + (r.ci_upper - m) / c
        rows.append(dict(dgp=r.dgp, label=r.label, level=r.level, exact=key in exact,
                         shrunk=r.ci_lower <= r.truth <= r.ci_upper, unshrunk=lo <= r.truth <= hi))
    cov = pd.DataFrame(rows)
    lines = [f"# Unshrunk intervals of `{run}` (c from the draws of `{drawn}`)", "",
             f"{int(cov['exact'].sum() / len(cov) * 100)} % of the rows exact (own draws), the rest "
             "approximate (mean c of the effect, interval midpoint as the replicates' mean).", "",
             "| design | level | construction | pooled coverage | effects in band | below band | range |",
             "|---|---:|---|---:|---:|---:|---|"]
    for (dgp, lv), g in cov.groupby(["dgp", "level"]):
        lo_band, hi_band = (0.85, 0.95) if lv == 0.9 else (0.90, 0.98)
        for name in ("shrunk", "unshrunk"):
            per_effect = g.groupby("label")[name].mean()
            inside = int(((per_effect >= lo_band - 1e-9) & (per_effect <= hi_band + 1e-9)).sum())
            below = int((per_effect < lo_band - 1e-9).sum())
            lines.append(f"| {dgp} | {lv:.2f} | {name} | {g[name].mean():.3f} | {inside} of "
                         f"{len(per_effect)} | {below} | {per_effect.min():.2f}–{per_effect.max():.2f} |")
    lines += ["", "Per effect (coverage shrunk → unshrunk):", ""]
    table = cov.groupby(["dgp", "level", "label"])[["shrunk", "unshrunk"]].mean()
    lines += ["| design | level | effect | shrunk | unshrunk |", "|---|---:|---|---:|---:|"]
    lines += [f"| {d} | {lv:.2f} | {lab} | {v.shrunk:.2f} | {v.unshrunk:.2f} |"
              for (d, lv, lab), v in table.iterrows()]
    return "\n".join(lines) + "\n"


def rebuild(run: Path, out: Path) -> pd.DataFrame:
    """``run``'s results with every flow interval that has draws recomputed as the library now
    makes it (percentiles of :func:`medflow.estimands.replicate_means`); rows of replications
    without draws are left out. Writes ``out/results.csv`` (a coverage study can resume there)."""
    res = pd.read_csv(run / "results.csv")
    keep = []
    for (dgp, rep), grp in res.groupby(["dgp", "rep"], sort=False):
        path = run / "draws" / f"{dgp}_{rep}.npz"
        if not path.exists():
            continue
        d = np.load(path)
        grp = grp.copy()
        flow = grp["method"] == "flow"
        for i in grp.index[flow]:
            reps = estimands.replicate_means(d[f"{grp.at[i, 'label']}|boot"], int(d["per"]))
            _, grp.at[i, "ci_lower"], grp.at[i, "ci_upper"] = estimands.interval(reps, grp.at[i, "level"])
        keep.append(grp)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.concat(keep, ignore_index=True)
    table.to_csv(out / "results.csv", index=False)
    return table


def paired(run: Path, against: tuple[Path, ...], levels=(0.9, 0.95)) -> str:
    """The replicates of ``run`` set against those of the same fits in ``against`` (run
    directories searched in order for each replication's draws): per effect, over the
    replications both have, the root mean replicate variance, the within-replicate optimiser
    variance, the bootstrap's spread net of it and the raw-percentile intervals' coverage and
    mean width (SD(Y) units); a markdown report."""
    res = pd.read_csv(run / "results.csv")
    flow = res[(res["method"] == "flow") & (res["level"] == levels[0])]
    rows = []
    for (dgp, rep), grp in flow.groupby(["dgp", "rep"]):
        mine, base = _draws_path(run, f"{dgp}_{rep}"), _draws_path(against[0], f"{dgp}_{rep}", against[1:])
        if mine is None or base is None:
            continue
        d = {"run": np.load(mine), "against": np.load(base)}
        for _, r in grp.iterrows():
            sd_y, label = float(r["sd_y"]), r["label"]
            # The same data set and seeds; on another processor the fit can differ a little
            # (benchmarks/results/cpu_kernels.md): counted, as fits differing by > 0.001 SD(Y).
            gap = float(np.abs(d["run"][f"{label}|fit"].mean() - d["against"][f"{label}|fit"].mean()))
            for side, z in d.items():
                values, members, per = z[f"{label}|boot"], z[f"{label}|fit"], int(z["per"])
                sp = spread(values, members, per)
                opt = sp.get("within s2", sp["fit s2"]) / per
                row = dict(dgp=dgp, label=label, rep=rep, side=side, refit=gap > 1e-3 * sd_y,
                           raw=sp["raw var"] / sd_y ** 2,
                           opt=opt / sd_y ** 2, net=max(sp["raw var"] - opt, 0.0) / sd_y ** 2)
                for lv in levels:
                    lo, hi = intervals(values, members, per, lv)["raw percentile"]
                    row[f"cover {lv:.2f}"] = lo <= r["truth"] <= hi
                    row[f"width {lv:.2f}"] = (hi - lo) / sd_y
                rows.append(row)
    t = pd.DataFrame(rows)
    agg = t.groupby(["dgp", "label", "side"]).agg(
        reps=("rep", "size"), refit=("refit", "sum"), **{k: (k, lambda x: float(np.sqrt(np.mean(x)))) for k in ("raw", "opt", "net")},
        **{c: (c, "mean") for c in t.columns if c.startswith(("cover", "width"))})
    wide = agg.unstack("side")
    lines = [f"# Replicates of `{run}` against the same fits' in `{', '.join(map(str, against))}`", "",
             "Per effect over the replications both runs have: root mean replicate variance (`raw`), "
             "root mean optimiser variance of a replicate (`opt`: within-replicate member variance / "
             "members, or the fit's member variance where a replicate has one member), the spread net "
             "of it (`net`, and its ratio run / against), and the raw-percentile intervals' coverage "
             "and mean width; SD(Y) units. `fits differ`: replications whose point estimate differs "
             "between the runs by more than 0.001 SD(Y) (the same data set and seeds fitted on "
             "another processor). Script: benchmarks/interval_choice.py --against.", "",
             "| dgp | effect | reps | fits differ | raw | raw against | opt | opt against | net | net against | "
             "net ratio | cover 90 % | against | cover 95 % | against | width 90 % | against |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (dgp, label), w in wide.iterrows():
        def f(k, side, fmt=".4f"):
            return format(w[(k, side)], fmt)
        lines.append(f"| {dgp} | {label} | {int(w[('reps', 'run')])} | {int(w[('refit', 'run')])} | "
                     f"{f('raw', 'run')} | "
                     f"{f('raw', 'against')} | {f('opt', 'run')} | {f('opt', 'against')} | "
                     f"{f('net', 'run')} | {f('net', 'against')} | "
                     f"{w[('net', 'run')] / w[('net', 'against')]:.3f} | "
                     f"{f('cover 0.90', 'run', '.2f')} | {f('cover 0.90', 'against', '.2f')} | "
                     f"{f('cover 0.95', 'run', '.2f')} | {f('cover 0.95', 'against', '.2f')} | "
                     f"{f('width 0.90', 'run')} | {f('width 0.90', 'against')} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="coverage study directories run with --save-draws")
    p.add_argument("--out", help="markdown file (default: <run>/interval_choice.md for one run)")
    p.add_argument("--unshrink", metavar="RUN",
                   help="score RUN's intervals unshrunk with the c of the positional run's draws")
    p.add_argument("--rebuild", metavar="OUT",
                   help="write OUT/results.csv: the run's rows with draws, flow intervals as the "
                        "library now makes them")
    p.add_argument("--draws", metavar="RUN", action="append", default=[],
                   help="another run directory whose draws/ serve replications the run's own lacks "
                        "(repeatable)")
    p.add_argument("--against", metavar="RUN", nargs="+",
                   help="set the positional run's replicates against those of the same fits in "
                        "these runs (draws searched in order); writes <run>/paired.md")
    args = p.parse_args()
    extra = tuple(map(Path, args.draws))
    if args.against:
        text = paired(Path(args.runs[0]), tuple(map(Path, args.against)))
        (Path(args.out) if args.out else Path(args.runs[0]) / "paired.md").write_text(text, encoding="utf-8")
        print(text)
        return
    if args.rebuild:
        table = rebuild(Path(args.runs[0]), Path(args.rebuild))
        print(f"{table.groupby(['dgp', 'rep']).ngroups} replications written to {args.rebuild}/results.csv")
        return
    if args.unshrink:
        text = unshrink(Path(args.unshrink), Path(args.runs[0]))
        (Path(args.unshrink) / "unshrunk.md").write_text(text, encoding="utf-8")
        print(text)
        return
    texts = []
    for run in map(Path, args.runs):
        summary, sp = score(run, extra=extra)
        text = to_markdown(summary, sp, run, extra)
        texts.append(text)
        if not args.out:
            (run / "interval_choice.md").write_text(text, encoding="utf-8")
    if args.out:
        Path(args.out).write_text("\n".join(texts), encoding="utf-8")
    print("\n".join(texts))


if __name__ == "__main__":
    main()
