"""How much the flow's GSS effects depend on the training settings and the seed (issue 18).

Fits the flow to the GSS data (``medflow.datasets.gss_status_attainment``, model
``U ~ V + X; Y ~ U + X; V ~~ X``) with the library's default settings
(``CausalFlow(...).fit(seed=...)``) and with the command line's settings
(``medflow.cli.default_fit_settings`` and ``default_flow_config``, if this version has
them), for a few seeds, and records TE, NDE and NIE via U (SD(Y) units, X at its 75th vs
25th percentile) and the held-out validation NLL of each fit. No bootstrap.

    nice -n 5 python benchmarks/gss_settings.py --seeds 0 1

Writes ``results/gss_settings.{json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, set_threads, write_results  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    env = environment(args.threads)

    import medflow as mf
    from medflow import cli

    gss = mf.datasets.gss_status_attainment()[["V", "X", "U", "Y"]]
    settings = {"library defaults": ({}, {})}
    if hasattr(cli, "default_fit_settings"):
        settings["command line"] = (cli.default_flow_config(len(gss)), cli.default_fit_settings(len(gss)))
    sem = mf.LinearSEM(mf.datasets.GSS_MODEL, gss).fit()
    linear = sem.effects("X", "Y", mediators=["U"]).table.set_index("label")["estimate_sd"]
    rows = [dict(settings="linear SEM", seed=None, fit_s=0.0, best_val_nll=None,
                 **{label: round(float(linear[label]), 4) for label in ("TE", "NDE via U", "NIE via U")})]
    for name, (config, fit_kw) in settings.items():
        for seed in args.seeds:
            start = time.perf_counter()
            fit = mf.CausalFlow(mf.datasets.GSS_MODEL, gss, **config).fit(seed=seed, verbose=False, **fit_kw)
            seconds = time.perf_counter() - start
            eff = fit.effects("X", "Y", mediators=["U"], verbose=False).table.set_index("label")["estimate_sd"]
            rows.append(dict(settings=name, seed=seed, fit_s=round(seconds, 1),
                             best_val_nll=round(float(fit.history["val_nll"].min()), 4),
                             **{label: round(float(eff[label]), 4) for label in ("TE", "NDE via U", "NIE via U")}))
            print(rows[-1], file=sys.stderr)
    md = ("Flow effects of X on Y via U on the GSS data (SD(Y) units, 75th vs 25th percentile of X), "
          "by training settings and seed; no bootstrap.\n\n" + markdown_table(pd.DataFrame(rows)))
    write_results("gss_settings", env, rows, md)


if __name__ == "__main__":
    main()
