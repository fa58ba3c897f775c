"""Which equations bootstrap replicates make linear (issue #14; the check behind keeping the fit's).

Fits ``nonlinear`` validation data set ``--rep`` at N = 2,000 with the library's procedure,
prints its linearity table, trains ``--boot`` bootstrap replicates and counts the sets of
equations the replicates made linear. Since 2026-11-30 the replicates keep the fit's choice,
so on the current code every replicate reports the fit's set. The counts quoted in
``benchmarks/results/README.md`` (35 of 50 replicates with a linear equation, U in 28, where
the fit's z for U is 4.9) were measured with the code of commit 47d9bdf (whose replicates repeated the linearity check
on their resamples) plus the minibatch change of 56fa09d:

    git worktree add /tmp/old 47d9bdf && PYTHONPATH=/tmp/old/python \\
        python benchmarks/bootstrap_linear_choice.py --rep 1 --boot 50
"""

from __future__ import annotations

import argparse
import collections
import warnings


def main() -> None:
    import medflow as mf
    from medflow.bootstrap import bootstrap_ensemble
    from medflow.validation import _seed

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dgp", default="nonlinear")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rep", type=int, default=1)
    ap.add_argument("--boot", type=int, default=50)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    seed = _seed(0, args.dgp, args.n, args.rep)
    sim = mf.datasets.simulate(args.dgp, args.n, seed=seed)
    fit = mf.CausalFlow(sim.model, sim.data, discrete=list(sim.discrete)).fit(seed=seed % (2**31), verbose=False)
    print(fit.linearity()[["node", "gain", "se", "z", "equation"]].to_string(index=False))
    ens, _ = bootstrap_ensemble(fit, args.boot, seed=seed % (2**31), verbose=False)
    counts = collections.Counter(tuple(fit.variables[i] for i in row) for row in ens.linear_nodes)
    print("linear equations per replicate:", dict(counts))


if __name__ == "__main__":
    main()
