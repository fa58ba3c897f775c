"""One estimand engine: specifications, the controlled direct effect and the contract
between the flow and the linear SEM.

The contract: a flow whose nonlinear part is zero and whose linear part is the data's OLS
fit *is* the linear SEM, so every estimand code (TE, NDE, NIE, PSE, PART, rNDE, rNIE, CDE)
must give the linear SEM's number, for a continuous and for a binary treatment, up to the
flow's float64 arithmetic and the Monte Carlo error of its randomized draws.
"""

import numpy as np
import pandas as pd
import pytest
import torch

import medflow as mf
from medflow import estimands
from medflow.training import fit_linear_part

MODEL = "X ~ V; U ~ V + X; W ~ U + X; Y ~ U + X + W"
CODES = ("TE", "NDE", "NIE", "PSE", "PART", "rNDE", "rNIE", "CDE")


def simulate(n: int, binary: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=n)
    x = (0.8 * v + rng.normal(size=n) > 0).astype(float) if binary else np.round(10 + 3 * (0.5 * v + rng.normal(size=n)), 1)
    u = 0.4 * v + 0.5 * x + rng.normal(size=n)
    w = 0.6 * u + 0.3 * x + rng.normal(size=n)
    y = 0.5 * u + 0.2 * x + 0.7 * w + rng.normal(size=n)
    return pd.DataFrame(dict(V=v, X=x, U=u, W=w, Y=y))


def linear_flow(model: str, data: pd.DataFrame):
    """A fitted flow with zero nonlinear part and the full data's OLS as its linear part."""
    flow = mf.CausalFlow(model, data)
    nodes = [n for n in flow.flow_dag.order if flow.flow_dag.parents[n]]
    fit = flow.fit(epochs=1, members=1, linear_nodes=nodes, dtype="float64", seed=0, verbose=False)
    x = fit._rows(fit.data).double()
    w, b, s = fit_linear_part(x, x + 0.5 * fit.disc_step, fit.flow.mask, fit.disc_step)
    fit.flow.set_linear(w, b, s)
    with torch.no_grad():
        fit.flow.w_out.zero_()
        fit.flow.b_out.zero_()
    return fit


def all_codes(obj, held: float) -> mf.EffectsResult:
    """Every estimand code from one fitted object (flow or linear SEM), default contrast."""
    parts = [obj.effects("X", "Y", mediators=["W", "U"]),
             obj.path_effects("X", "Y", paths=["X -> W -> Y", "X -> Y"]),
             obj.decompose("X", "Y", order=["U", "W"]),
             obj.cde("X", "Y", m={"W": held})]
    table = pd.concat([p.table for p in parts], ignore_index=True).drop_duplicates("label")
    return mf.EffectsResult(table)


# ---------------------------------------------------------------- specifications
def test_default_contrast_is_one_rule():
    assert estimands.default_contrast(np.arange(10.0)) == (7.0, 2.0, "75th vs 25th percentile")
    assert estimands.default_contrast([0, 1, 0, 1, 1]) == (1.0, 0.0, "1 vs 0")
    assert estimands.default_contrast([2, 5, 5, 2])[:2] == (5.0, 2.0)
    with pytest.raises(ValueError, match=r"^The treatment's 25th and 75th percentiles are both 3; give a and a_ref\.$"):
        estimands.default_contrast([1, 3, 3, 3, 3, 3, 3, 9])
    with pytest.raises(ValueError, match=r"^Give both a and a_ref, or neither \(for the default contrast\)\.$"):
        estimands.contrast(1.0, None, lambda: (1.0, 0.0, ""))
    with pytest.raises(ValueError, match=r"^a and a_ref are both 2: the contrast is empty\.$"):
        estimands.contrast(2, 2, lambda: (1.0, 0.0, ""))


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_flow_linear_sem_and_command_line_share_the_default_contrast():
    # x = 0..9 in equal shares: the interpolated quartiles (6.75, 2.25) were the linear SEM's
    # default and the nearest ones (7, 2) the flow's; now every engine takes 7 vs 2.
    from medflow import analysis
    rng = np.random.default_rng(0)
    x = np.repeat(np.arange(10.0), 30)
    m = x + rng.normal(size=x.size)
    y = m + x + rng.normal(size=x.size)
    data = pd.DataFrame(dict(X=x, M=m, Y=y))
    sem = mf.LinearSEM("M ~ X; Y ~ X + M", data).fit().effects("X", "Y", interventional=False)
    assert (sem.table["a"].iloc[0], sem.table["a_ref"].iloc[0]) == (7.0, 2.0)
    assert analysis._contrast(data, "X", None)[:2] == (7.0, 2.0)
    fit = mf.CausalFlow("M ~ X; Y ~ X + M", data).fit(epochs=1, members=1, seed=0, verbose=False)
    flow = fit.effects("X", "Y", interventional=False)
    assert (flow.table["a"].iloc[0], flow.table["a_ref"].iloc[0]) == (7.0, 2.0)
    assert len(mf.compare(flow, sem)) == 2 * len(flow.table)  # same contrast: comparable


def test_mediator_set_rule_and_specs():
    g = mf.dag.as_dag("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X")
    assert estimands.mediator_sets(None, g, "X", "Y") == [("U",), ("W",)]
    assert estimands.mediator_sets(["W", ("W", "U", "W")], g, "X", "Y") == [("W",), ("U", "W")]
    with pytest.raises(ValueError, match=r"^'V' is not a mediator: it lies on no directed path from X to Y\.$"):
        estimands.mediator_sets(["V"], g, "X", "Y")
    specs = {e.label: e for e in estimands.natural(g, "X", "Y", [("W",)])}
    assert [e.code for e in specs.values()] == ["TE", "NDE", "NIE", "rNDE", "rNIE"]
    assert specs["NIE via W"].path_text == "X -> U -> W -> Y; X -> W -> Y"
    assert specs["NIE via W"].path_text == specs["rNIE via W"].path_text
    assert not specs["NDE via W"].identified and specs["NDE via W"].identification.witnesses == ("U",)
    assert specs["rNDE via W"].identified and specs["rNDE via W"].randomized
    parts = estimands.sequential(g, "X", "Y", [("W", "U")])
    assert [e.label for e in parts] == ["TE", "PART via U+W", "PART direct"]
    (cde,) = estimands.controlled(g, "X", "Y", {"W": 2, "U": 1})
    assert cde.label == "CDE at U=1, W=2" and cde.mediators == "U+W"
    assert cde.paths == (("X", "Y"),) and cde.identified
    assert cde.hi == ("held", "a", (("U", 1.0), ("W", 2.0)))
    with pytest.raises(ValueError, match=r"^m= must be a dict of the held mediators"):
        estimands.controlled(g, "X", "Y", {})
    with pytest.raises(ValueError, match=r"^'V' is not a mediator"):
        estimands.controlled(g, "X", "Y", {"V": 1.0})


def test_controlled_direct_effect_is_identified_where_natural_effects_are_not():
    g = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
    assert not mf.identification.check_mediators(g, "X", "Y", ["W"]).identified
    verdict = mf.identification.check_controlled(g, "X", "Y", ["W"])
    assert verdict.identified and verdict.witnesses == () and verdict.assumption == ""
    assert "no cross-world" in verdict.reason


# ---------------------------------------------------------------- CDE on the linear SEM
def test_linear_sem_cde_is_the_direct_path_sum_times_the_contrast():
    data = simulate(2000, binary=False, seed=1)
    sem = mf.LinearSEM(MODEL, data).fit()
    res = sem.cde("X", "Y", m={"W": 0.5}, a=12.0, a_ref=9.0)
    coef = sem.params.set_index(["lhs", "rhs"])["est"]
    direct = coef[("Y", "X")] + coef[("U", "X")] * coef[("Y", "U")]  # paths avoiding W
    row = res.table.iloc[0]
    assert row["estimand"] == "CDE" and row["label"] == "CDE at W=0.5" and row["mediators"] == "W"
    assert row["estimate"] == pytest.approx(3.0 * direct, rel=1e-12)
    assert row["path"] == "X -> U -> Y; X -> Y" and row["identified"]
    # the held value does not matter without interactions; the delta SE equals NDE via W's
    nde = sem.effects("X", "Y", mediators=["W"], a=12.0, a_ref=9.0, interventional=False).table
    nde = nde.set_index("label").loc["NDE via W"]
    other = sem.cde("X", "Y", m={"W": -3.0}, a=12.0, a_ref=9.0).table.iloc[0]
    assert other["estimate"] == pytest.approx(row["estimate"], rel=1e-12)
    assert row["estimate"] == pytest.approx(nde["estimate"], rel=1e-12)
    assert row["std_error"] == pytest.approx(nde["std_error"], rel=1e-12) and row["std_error"] > 0
    boot = sem.cde("X", "Y", m={"W": 0.5}, a=12.0, a_ref=9.0, n_boot=50, seed=3).table.iloc[0]
    assert boot["n_boot"] == 50 and boot["ci_lower"] < boot["estimate"] < boot["ci_upper"]
    with pytest.raises(ValueError, match=r"^m\['W'\] must be a finite number"):
        sem.cde("X", "Y", m={"W": float("nan")})


# ---------------------------------------------------------------- the contract
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
@pytest.mark.parametrize("binary", [False, True], ids=["continuous", "binary"])
def test_a_flow_without_nonlinear_part_gives_the_linear_sem_numbers(binary):
    data = simulate(1500, binary=binary, seed=2 + binary)
    fit = linear_flow(MODEL, data)
    sem = mf.LinearSEM(MODEL, data).fit()
    held = float(np.quantile(data["W"], 0.5, method="nearest"))
    flow, lin = all_codes(fit, held), all_codes(sem, held)
    assert set(flow.table["estimand"]) == set(CODES) and set(lin.table["estimand"]) == set(CODES)
    # one layout; compare() checks that the contrast (the one default rule) is the same
    both = mf.compare(flow, lin, names=["flow", "linear"])
    wide = both.pivot(index="label", columns="name", values="estimate")
    sd_y = data["Y"].std()
    gap = (wide["flow"] - wide["linear"]).abs() / sd_y
    mc = flow.table.set_index("label")["mc_error"].fillna(0.0).reindex(gap.index) / sd_y
    assert (gap <= 1e-6 + 4 * mc).all(), pd.DataFrame(dict(gap=gap, mc=mc)).to_string()
    assert (mc < 0.002).all(), mc.to_dict()  # the randomized draws' Monte Carlo error is small
    exact = [lbl for lbl in gap.index if not lbl.startswith("r")]
    assert (gap[exact] < 1e-6).all(), gap[exact].to_dict()
    # the same specification: paths, mediators and identification of every row
    cols = ["estimand", "path", "mediators", "identified", "witness"]
    f = flow.table.set_index("label")[cols].sort_index()
    s = lin.table.set_index("label")[cols].sort_index()
    pd.testing.assert_frame_equal(f, s)
    assert not f.loc["NDE via W", "identified"] and f.loc["CDE at W=%g" % held, "identified"]


# ---------------------------------------------------------------- CDE with an interaction
def test_flow_cde_follows_the_held_mediator_with_an_interaction():
    # M = X + e_M; Y = X + M + 0.5 X M + e_Y: E[Y(a, m) - Y(a_ref, m)] = (a - a_ref)(1 + 0.5 m).
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.normal(size=n)
    m = x + rng.normal(size=n)
    y = x + m + 0.5 * x * m + 0.5 * rng.normal(size=n)
    data = pd.DataFrame(dict(X=x, M=m, Y=y))
    fit = mf.CausalFlow("M ~ X; Y ~ X + M", data).fit(seed=0, verbose=False)
    out = {}
    for held in (-1.0, 1.0):
        res = fit.cde("X", "Y", m={"M": held}, a=1.0, a_ref=-1.0)
        row = res.table.iloc[0]
        assert row["label"] == f"CDE at M={held:g}" and row["identified"]
        out[held] = row["estimate"]
    truth = {held: 2.0 * (1 + 0.5 * held) for held in out}          # 1 and 3
    assert out[-1.0] == pytest.approx(truth[-1.0], abs=0.15), out
    assert out[1.0] == pytest.approx(truth[1.0], abs=0.15), out
    # the linear SEM has no interaction: one number for every m, between the two
    sem = mf.LinearSEM("M ~ X; Y ~ X + M", data).fit()
    lin = [float(sem.cde("X", "Y", m={"M": h}, a=1.0, a_ref=-1.0).params.iloc[0]) for h in out]
    assert lin[0] == pytest.approx(lin[1], rel=1e-12) and out[-1.0] < lin[0] < out[1.0]
    # by simulation from the true model with the same held value: the analytic truth
    eps = rng.normal(size=200_000)
    sim = {a: a + 1.0 + 0.5 * a * 1.0 + 0.5 * eps for a in (1.0, -1.0)}
    assert float(np.mean(sim[1.0] - sim[-1.0])) == pytest.approx(truth[1.0], abs=1e-9)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_flow_cde_bootstrap_and_errors():
    rng = np.random.default_rng(7)
    x = rng.normal(size=600)
    m = x + rng.normal(size=600)
    y = x + m + rng.normal(size=600)
    fit = mf.CausalFlow("M ~ X; Y ~ X + M", pd.DataFrame(dict(X=x, M=m, Y=y))).fit(
        epochs=2, members=1, seed=0, verbose=False)
    res = fit.cde("X", "Y", m={"M": 0.0}, a=1.0, a_ref=0.0, n_boot=3, seed=1)
    row = res.table.iloc[0]
    assert row["n_boot"] == 3 and np.isfinite(row["std_error"]) and res.draws.shape == (3, 1)
    assert row["method"] == "flow" and row["estimand"] == "CDE"
    with pytest.raises(ValueError, match=r"^m= sets M = 99, outside its observed range"):
        fit.cde("X", "Y", m={"M": 99.0}, a=1.0, a_ref=0.0)
    with pytest.raises(ValueError, match=r"^'X' is the treatment or the outcome and cannot be a mediator\.$"):
        fit.cde("X", "Y", m={"X": 0.0})
    with pytest.raises(ValueError, match=r"^cde\(\) has no option mediators"):
        fit.cde("X", "Y", m={"M": 0.0}, mediators=["M"])


# ---------------------------------------------------------------- compare()
def test_compare_refuses_different_queries_and_has_one_layout():
    def result(a, a_ref, treatment="X", method="flow"):
        row = mf.results.effect_row(estimand="TE", path="X -> Y", treatment=treatment, outcome="Y",
                                    a=a, a_ref=a_ref, estimate=1.0, sd_outcome=2.0, method=method)
        return mf.EffectsResult(pd.DataFrame([row]))
    with pytest.raises(ValueError, match=r"^compare\(\) needs results of the same treatment, outcome and "
                                         r"contrast; these differ: a \(flow: 7; linear SEM: 6\.75\); "
                                         r"a_ref \(flow: 2; linear SEM: 2\.25\)\.$"):
        mf.compare(result(7, 2), result(6.75, 2.25, method="linear SEM"))
    with pytest.raises(ValueError, match=r"these differ: treatment \(one: X; two: Z\)\.$"):
        mf.compare(result(1, 0), result(1, 0, treatment="Z"), names=["one", "two"])
    table = mf.compare(result(1, 0), result(1, 0, method="linear SEM"))
    assert tuple(table.columns) == mf.results.COMPARISON_COLUMNS
    assert table["name"].tolist() == ["flow", "linear SEM"]
    assert table["estimate_sd"].tolist() == [0.5, 0.5]


# ---------------------------------------------------------------- bootstrap replicates
def test_replicate_means_average_each_replicates_members():
    values = np.arange(12.0)
    assert estimands.replicate_means(values, 3).tolist() == [1.0, 4.0, 7.0, 10.0]
    assert estimands.replicate_means(values, 1).tolist() == values.tolist()
    # a second axis (e.g. a dose-response grid) is kept
    two = estimands.replicate_means(np.c_[values, -values], 2)
    assert two.shape == (6, 2) and two[:, 1].tolist() == [-0.5, -2.5, -4.5, -6.5, -8.5, -10.5]
    with pytest.raises(ValueError, match=r"^12 member values do not split into replicates of 5 member\(s\)\.$"):
        estimands.replicate_means(values, 5)
