"""Read a coverage run against issue 14's band, and against what chance allows.

Issue 14 asks every flow effect's 90 % and 95 % percentile intervals to cover 0.85-0.95 and
0.90-0.98 on each design and size. A coverage over ``n`` replications is a binomial share:
even a method whose coverage is exactly nominal lands outside the band with a probability
this script computes (``P(band | nominal)``). For every effect it reports the coverage, its
Monte Carlo SE, whether it is in the band, and an exact two-sided binomial test of the
nominal level (``scipy.stats.binomtest``) with Holm's adjustment over the run's cells, so
that a miss the replications can tell apart from chance (Holm p < 0.05) is separated from one
they cannot, and the test's power against coverages 0.05, 0.10 and 0.20 below nominal for the
runs' numbers of replications (and 20, 40, 100 and 200).

    python benchmarks/coverage_band.py benchmarks/results/coverage_2000_asis \
        benchmarks/results/coverage_20700_asis --name coverage_band

Writes ``benchmarks/results/<name>.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, markdown_table  # noqa: E402

#: issue 14's bands: nominal level -> (lowest, highest) acceptable coverage
BANDS = {0.9: (0.85, 0.95), 0.95: (0.90, 0.98)}


def band_probability(n: int, level: float) -> float:
    """Probability that ``k ~ Binomial(n, level)`` gives ``k / n`` inside ``BANDS[level]``.

    Example:
        >>> round(band_probability(20, 0.9), 3), round(band_probability(40, 0.9), 3)
        (0.745, 0.82)
        >>> round(band_probability(20, 0.95), 3)   # 20 of 20 (1.00) is above 0.98
        0.566
    """
    lo, hi = BANDS[level]
    k = np.arange(n + 1)
    inside = (k / n >= lo - 1e-12) & (k / n <= hi + 1e-12)
    return float(stats.binom.pmf(k[inside], n, level).sum())


def power(n: int, level: float, true: float, alpha: float = 0.05) -> float:
    """Probability that the exact binomial test rejects ``level`` when the true coverage is ``true``.

    Example:
        >>> round(power(40, 0.9, 0.7), 3)
        0.889
    """
    k = np.arange(n + 1)
    reject = np.array([stats.binomtest(int(i), n, level).pvalue < alpha for i in k])
    return float(stats.binom.pmf(k[reject], n, true).sum())


def cells(run: Path) -> pd.DataFrame:
    """One row per design, effect and level of a run's flow intervals."""
    r = pd.read_csv(run / "results.csv")
    r = r[r["method"] == "flow"].copy()
    r["covered"] = (r["ci_lower"] <= r["truth"]) & (r["truth"] <= r["ci_upper"])
    rows = []
    for (dgp, n_rows, label, level), g in r.groupby(["dgp", "n", "label", "level"], sort=False):
        n, k = len(g), int(g["covered"].sum())
        lo, hi = BANDS[round(float(level), 2)]
        cov = k / n
        side = "below" if cov < lo - 1e-12 else ("above" if cov > hi + 1e-12 else "in")
        rows.append(dict(run=run.name, dgp=dgp, N=int(n_rows), effect=label, level=float(level),
                         reps=n, covered=k, coverage=cov, mc_se=float(np.sqrt(level * (1 - level) / n)),
                         in_band=side == "in", side=side,
                         p_nominal=float(stats.binomtest(k, n, float(level)).pvalue),
                         p_band_if_nominal=band_probability(n, round(float(level), 2))))
    out = pd.DataFrame(rows)
    out["p_holm"] = multipletests(out["p_nominal"], method="holm")[1]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="coverage_study.py output folders")
    ap.add_argument("--name", default="coverage_band")
    args = ap.parse_args(argv)
    table = pd.concat([cells(run) for run in args.runs], ignore_index=True)
    summary = (table.groupby(["run", "dgp", "N", "level"], sort=False)
               .agg(reps=("reps", "first"), cells=("effect", "size"), in_band=("in_band", "sum"),
                    below=("side", lambda s: int((s == "below").sum())),
                    above=("side", lambda s: int((s == "above").sum())),
                    holm_below=("p_holm", lambda p: int(((p < 0.05) & (table.loc[p.index, "side"] == "below")).sum())),
                    holm_above=("p_holm", lambda p: int(((p < 0.05) & (table.loc[p.index, "side"] == "above")).sum())),
                    expected_in_band_if_nominal=("p_band_if_nominal", "sum"))
               .reset_index())
    total = dict(cells=int(len(table)), in_band=int(table["in_band"].sum()),
                 expected_in_band_if_nominal=float(table["p_band_if_nominal"].sum()),
                 all_in_band_if_nominal_independent=float(np.prod(table["p_band_if_nominal"])),
                 p_below_05=int((table["p_nominal"] < 0.05).sum()),
                 holm_significant=int((table["p_holm"] < 0.05).sum()))
    sizes = sorted(set(table["reps"]) | {20, 40, 100, 200})
    chance = pd.DataFrame([dict(reps=n, level=level, p_band_if_nominal=band_probability(n, level),
                                **{f"power, nominal - {d:.2f}": power(n, level, level - d)
                                   for d in (0.05, 0.10, 0.20)})
                           for level in BANDS for n in sizes])
    out = RESULTS / args.name
    out.with_suffix(".json").write_text(json.dumps(
        dict(runs=[str(r) for r in args.runs], total=total, summary=summary.to_dict("records"),
             chance=chance.to_dict("records"), cells=table.to_dict("records")), indent=1) + "\n")
    lines = ["# Coverage against issue 14's band (`benchmarks/coverage_band.py`)", "",
             "Runs: " + ", ".join(f"`{r}`" for r in args.runs) + ". Band: 0.85-0.95 at 90 %, "
             "0.90-0.98 at 95 %. `expected_in_band_if_nominal`: cells a method with exactly nominal "
             "coverage would put in the band on average, given the replications; `holm_below` / "
             "`holm_above`: cells whose coverage differs from nominal by an exact binomial test with "
             "Holm's adjustment over the run's cells (p < 0.05).", "",
             f"All runs: {total['in_band']} of {total['cells']} cells in the band; a method with exactly "
             f"nominal coverage would put {total['expected_in_band_if_nominal']:.1f} there on average, "
             f"and all of them with probability {total['all_in_band_if_nominal_independent']:.1e} if the "
             f"cells were independent; {total['p_below_05']} cells differ from nominal at p < 0.05 "
             f"unadjusted, {total['holm_significant']} after Holm's adjustment.", "", markdown_table(summary, 3), "",
             "## What chance allows", "",
             "For each number of replications and level: the probability that an exactly nominal "
             "method lands in the band, and the power of the exact binomial test (p < 0.05) against "
             "a true coverage 0.05, 0.10 and 0.20 below nominal.", "",
             markdown_table(chance, 3), "", "## Every cell", "",
             markdown_table(table.drop(columns=["run", "in_band"]), 3)]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:8]))


if __name__ == "__main__":
    main()
