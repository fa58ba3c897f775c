"""Robustness checks of issue 16: its list of calls, codings of binary variables, offsets and units in the linear SEM.

0. Every call of the issue's list (bad queries, graph cases, damaged models, command-line
   paths, extreme values, few-valued codings), with the error or answer it gives now.

1. Flow: a binary mediator (and, separately, a binary outcome) coded 0/1, -0.5/0.5 and
   z-scored, N = 2,000, truths from the known SCM on the same units. Before issue 16 the
   non-0/1 codings were fitted as continuous variables.
2. Linear SEM: the same data with 0, 3e7, 1e8 and 1e9 added to every column, and a mediator
   in dollars versus cents beside a binary treatment.

    nice -n 10 python benchmarks/robustness_checks.py [--n 2000] [--epochs 60] [--quick]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from _common import environment, markdown_table, set_threads, write_results

import medflow as mf


def binary_scm(n: int, seed: int, binary_outcome: bool):
    """X ~ N(0,1); M = 1{0.8 X + e_M > 0}; Y = 0.5 X + M + e_Y (or 1{... > 0.5})."""
    rng = np.random.default_rng(seed)
    x, em, ey = rng.normal(size=(3, n))

    def m_of(a):
        return (0.8 * a + em > 0).astype(float)

    def y_of(a, m):
        v = 0.5 * a + m + ey
        return (v > 0.5).astype(float) if binary_outcome else v

    data = pd.DataFrame({"X": x, "M": m_of(x), "Y": y_of(x, m_of(x))})
    truth = dict(TE=float(np.mean(y_of(1.0, m_of(1.0)) - y_of(0.0, m_of(0.0)))),
                 NIE=float(np.mean(y_of(1.0, m_of(1.0)) - y_of(1.0, m_of(0.0)))))
    return data, truth


def flow_codings(n: int, epochs: int, seed: int) -> list[dict]:
    rows = []
    for outcome_kind in ("continuous", "binary"):
        data, truth = binary_scm(n, seed, outcome_kind == "binary")
        codings = {"M 0/1": data,
                   "M -0.5/0.5": data.assign(M=data["M"] - 0.5),
                   "M z-scored": data.assign(M=(data["M"] - data["M"].mean()) / data["M"].std())}
        if outcome_kind == "binary":
            codings["Y z-scored"] = data.assign(Y=(data["Y"] - data["Y"].mean()) / data["Y"].std())
        for name, frame in codings.items():
            fit = mf.CausalFlow("M ~ X; Y ~ X + M", frame).fit(seed=seed, epochs=epochs, verbose=False)
            res = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
            back = data["Y"].std() / frame["Y"].std()   # effects in the 0/1 data's units
            rows.append(dict(check="flow coding", outcome=outcome_kind, coding=name, n=n,
                             discrete=",".join(fit.encoding.discrete),
                             TE=float(res.params["TE"]) * back, NIE=float(res.params["NIE via M"]) * back,
                             TE_truth=truth["TE"], NIE_truth=truth["NIE"],
                             epochs_run=fit.fit_info.get("epochs_run")))
    return rows


def linear_offsets(seed: int) -> list[dict]:
    rows = []
    sim = mf.datasets.simulate("linear", 2000, seed)
    base_data = sim.data
    for offset in (0.0, 3e7, 1e8, 1e9):
        frame = base_data + offset
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mf.LinearSEM(sim.model, frame).fit()
        eff = res.effects("X", "Y", mediators=["W"], a=1.0 + offset, a_ref=offset, interventional=False)
        rows.append(dict(check="linear offset", coding=f"+{offset:g}", TE=float(eff.params["TE"]),
                         NIE=float(eff.params["NIE via W"]), min_R2=float(res.rsquared.min())))
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, 2000).astype(float)
    dollars = 30000 + 8000 * t + rng.normal(0, 20000, 2000)
    y = 1e-4 * dollars + 0.5 * t + rng.normal(size=2000)
    d = pd.DataFrame({"T": t, "M": dollars, "Y": y})
    for unit, frame in (("dollars", d), ("cents", d.assign(M=np.round(d["M"] * 100)))):
        try:
            eff = mf.LinearSEM("M ~ T; Y ~ T + M", frame).fit().effects("T", "Y", mediators=["M"],
                                                                         interventional=False)
            rows.append(dict(check="linear units", coding=f"M in {unit}", TE=float(eff.params["TE"]),
                             NIE=float(eff.params["NIE via M"])))
        except ValueError as err:
            rows.append(dict(check="linear units", coding=f"M in {unit}", error=str(err)))
    return rows


def _outcome(call) -> tuple[str, str]:
    """``("error", "ValueError: ...")`` or ``("answer", repr of the value)``, with warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except Exception as err:  # noqa: BLE001 - the point is to record what is raised
            return "error", f"{type(err).__name__}: {' '.join(str(err).split())[:220]}".replace("|", "")
    told = [f"{w.category.__name__}: {' '.join(str(w.message).split())[:160]}" for w in caught
            if w.category.__name__ != "DeprecationWarning"]
    text = " ".join(str(value).split())[:160]
    text = text + ("; warned: " + " / ".join(told) if told else "")
    return ("answer + warning" if told else "answer"), text.replace("|", "")  # no table pipes


def issue_items(seed: int) -> list[dict]:
    """Every call listed in issue 16, replayed on small data: one clear error or the right answer."""
    import json
    import tempfile
    from pathlib import Path

    from medflow.cli import main as cli

    rng = np.random.default_rng(seed)
    n = 300
    x = rng.normal(size=n)
    m = x + rng.normal(size=n)
    v = rng.integers(0, 3, n).astype(float)
    df = pd.DataFrame({"V": v, "X": x + 0.3 * v, "M": m, "Y": m + 0.5 * x + rng.normal(size=n)})
    model = "X ~ V; M ~ X + V; Y ~ X + M + V"
    fit = mf.CausalFlow(model, df).fit(seed=seed, epochs=3, verbose=False)
    lin = mf.LinearSEM(model, df).fit()
    tmp = Path(tempfile.mkdtemp())
    saved = fit.save(tmp / "m")

    def damaged(change):
        folder = tmp / f"d{len(list(tmp.iterdir()))}"
        fit.save(folder)
        change(folder)
        return mf.load(folder)

    def edit_json(folder):
        meta = json.loads((folder / "model.json").read_text())
        meta["encoding"]["scale"][0] *= 2
        (folder / "model.json").write_text(json.dumps(meta))

    def nan_weights(folder):
        import torch
        state = torch.load(folder / "weights.pt", weights_only=True)
        next(iter(state.values())).fill_(float("nan"))
        torch.save(state, folder / "weights.pt")

    def cli_code(*argv):
        return cli(list(argv))

    csv = tmp / "d.csv"
    df.to_csv(csv, index=False)
    header_only = tmp / "h.csv"
    df.iloc[:0].to_csv(header_only, index=False)
    three = np.array([0.0, 1.0, 2.0])[rng.integers(0, 3, n)]
    uneven = pd.DataFrame({"X": x, "M": three, "Y": three + 0.5 * x + rng.normal(size=n)})
    shuffled = pd.Series(df["V"] >= 1, index=df.index).sample(frac=1, random_state=0)
    adjacency = pd.DataFrame(0.0, index=list("XMY"), columns=list("XMY"))
    adjacency.loc["X", "M"] = adjacency.loc["M", "Y"] = 1.0
    adjacency.loc["X", "Y"] = np.nan
    isolated = pd.DataFrame(0, index=list("XMY"), columns=list("XMY"))
    isolated.loc["X", "M"] = 1
    opts = dict(mediators=["M"], interventional=False)
    calls = {
        # silent wrong results
        "3-level mediator coded 0/1/3.71 (levels)": lambda: mf.CausalFlow(
            "M ~ X; Y ~ X + M", uneven.assign(M=np.array([0, 1, 3.71])[three.astype(int)])).encoding.levels,
        "discrete=['M'] on a z-scored 3-level mediator": lambda: mf.CausalFlow(
            "M ~ X; Y ~ X + M", uneven.assign(M=(three - three.mean()) / three.std()),
            discrete=["M"]).encoding.discrete,
        "three values of 1e6 in Y": lambda: mf.CausalFlow(
            model, df.assign(Y=np.where(np.arange(n) < 3, 1e6, df["Y"]))).encoding.discrete,
        "one X of 1e9": lambda: mf.CausalFlow(
            model, df.assign(X=np.where(np.arange(n) == 0, 1e9, df["X"]))).encoding.discrete,
        "lr=10": lambda: mf.CausalFlow(model, df).fit(lr=10, verbose=False),
        "decompose(order=['M', 'M'])": lambda: fit.decompose("X", "Y", order=["M", "M"]),
        "where= a shuffled pandas Series": lambda: round(float(fit.effects(
            "X", "Y", where=shuffled, **opts).params["TE"]), 4) == round(float(fit.effects(
                "X", "Y", where=(df["V"] >= 1).to_numpy(), **opts).params["TE"]), 4),
        "n_mc=0": lambda: fit.effects("X", "Y", n_mc=0, **opts),
        "data= with no rows": lambda: fit.effects("X", "Y", data=df.iloc[:0], **opts),
        "a=inf, extrapolate=True": lambda: fit.effects("X", "Y", a=np.inf, a_ref=0, extrapolate=True, **opts),
        "LinearSEM effects(a=nan)": lambda: lin.effects("X", "Y", a=np.nan, a_ref=0.0),
        "path_effects(paths=[])": lambda: fit.path_effects("X", "Y", paths=[]),
        "at={'V': 1e6}": lambda: fit.effects("X", "Y", at={"V": 1e6}, **opts),
        "counterfactual(do={'X': 1e9})": lambda: fit.counterfactual(df.head(3), do={"X": 1e9}),
        # raw errors
        "duplicated column names": lambda: mf.CausalFlow(model, pd.concat([df, df[["M"]]], axis=1)),
        "empty edge list (flow)": lambda: mf.CausalFlow([], df),
        "empty edge list (linear)": lambda: mf.LinearSEM([], df),
        "~~ statements only (flow)": lambda: mf.CausalFlow("X ~~ V", df),
        "~~ statements only (linear)": lambda: mf.LinearSEM("X ~~ V", df),
        "isolated node (flow)": lambda: mf.CausalFlow(isolated, df),
        "isolated node (linear)": lambda: mf.LinearSEM(isolated, df),
        "A ~~ X; X ~~ A (flow)": lambda: mf.CausalFlow("Y ~ X + V; V ~~ X; X ~~ V", df),
        "A ~~ X; X ~~ A (linear)": lambda: mf.LinearSEM("Y ~ X + V; V ~~ X; X ~~ V", df),
        "repeated ~~ (flow)": lambda: mf.CausalFlow("Y ~ X + V; V ~~ X; V ~~ X", df),
        "repeated ~~ (linear)": lambda: mf.LinearSEM("Y ~ X + V; V ~~ X; V ~~ X", df),
        "two parents on the left ('M + Y ~ X')": lambda: mf.CausalFlow("M + Y ~ X", df),
        "NaN cell in an adjacency DataFrame": lambda: mf.CausalFlow(adjacency, df),
        "edited model.json": lambda: damaged(edit_json),
        "NaN weights": lambda: damaged(nan_weights),
        "truncated weights.pt": lambda: damaged(lambda f: (f / "weights.pt").write_bytes(b"xx")),
        "header-only CSV (command line; exit code)": lambda: cli_code(
            "fit", "--csv", str(header_only), "--model", model, "--treatment", "X", "--outcome", "Y",
            "--out", str(tmp / "r1")),
        "--out names an existing file (exit code)": lambda: cli_code(
            "fit", "--csv", str(csv), "--model", model, "--treatment", "X", "--outcome", "Y",
            "--out", str(csv)),
        "dose_response(grid=[])": lambda: fit.dose_response("X", "Y", grid=[]),
        "n_mc=-5": lambda: fit.effects("X", "Y", n_mc=-5, **opts),
        "sample(seed=None)": lambda: fit.sample(3, seed=None).shape,
        "fit(epochs=2.7)": lambda: mf.CausalFlow(model, df).fit(epochs=2.7, verbose=False),
        "fit(device='gpu')": lambda: mf.CausalFlow(model, df).fit(device="gpu", verbose=False),
        "effects(estimand='ATE')": lambda: fit.effects("X", "Y", estimand="ATE"),
        "where= names an unknown column": lambda: fit.effects("X", "Y", where="Z > 1", **opts),
        "summary(scale='bogus')": lambda: fit.effects("X", "Y", **opts).summary(scale="bogus"),
        "weight_decay=-1": lambda: mf.CausalFlow(model, df).fit(weight_decay=-1, verbose=False),
        "bound=0": lambda: mf.CausalFlow(model, df, bound=0),
        "by= a continuous variable": lambda: fit.effects(
            "X", "Y", by="V", data=df.assign(V=rng.normal(size=n)), **opts),
        "Cauchy noise in Y, seeds 0 and 1": lambda: [round(float(mf.CausalFlow(
            model, df.assign(Y=df["M"] + 0.5 * df["X"] + rng.standard_cauchy(n))).fit(
                seed=s, members=2, epochs=20, verbose=False).effects("X", "Y", **opts).params["TE"]), 3)
            for s in (0, 1)],
        # saved models
        "save() default holds no data": lambda: mf.load(saved).data is None,
        "loaded model without data, effects(n_mc=2000)": lambda: round(float(mf.load(saved).effects(
            "X", "Y", n_mc=2000, **opts).params["TE"]), 3),
        "loaded model without data, no data= or n_mc=": lambda: mf.load(saved).effects("X", "Y", **opts),
    }
    rows = []
    for item, call in calls.items():
        kind, text = _outcome(call)
        rows.append(dict(check="issue 16 item", coding=item, gives=kind, result=text))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="N = 500, 5 epochs")
    p.add_argument("--name", default="robustness_checks")
    args = p.parse_args()
    if args.quick:
        args.n, args.epochs = 500, 5
    set_threads(args.threads)
    env = environment(args.threads)
    rows = issue_items(args.seed) + linear_offsets(args.seed) + flow_codings(args.n, args.epochs, args.seed)
    table = pd.DataFrame(rows)
    summary = ("Issue 16 items: each call of the issue's list on small data (N = 300, 3 epochs), "
               "with the error it raises or the answer it gives (and any warning). "
               "Flow: effects of X = 1 vs 0 in the 0/1 data's units for each coding of the binary "
               f"variable (N = {args.n}, up to {args.epochs} epochs, seed {args.seed}); truths are "
               "the sample truths of the known SCM. Linear SEM: the same data shifted by a constant, "
               "and a mediator in dollars vs cents.\n\n" + markdown_table(table, digits=4))
    write_results(args.name, env, rows, summary, extra=dict(args=vars(args)))


if __name__ == "__main__":
    main()
