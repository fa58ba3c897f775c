"""Distributional effects and mobility tables: exact identities, oracles, the API and accuracy.

The quantile and threshold rows are checked against the flow's own unit-level counterfactuals
(:func:`medflow.effects.unit_effects`), the ensemble pooling against a hand-made two-member
ensemble, the linear SEM's simulation against path tracing, the truth oracles against
:func:`medflow.oracle._world_values` and closed forms, and (slow) the estimates against
shared-noise ground truth on the nonlinear design at N = 20,700.
"""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import medflow as mf
from medflow.simulation import designs
from medflow.simulation import truth as oracle
from medflow.distributional import (_LinearWorlds, _mobility, _own_origin_world, _pooled,
                                    weighted_quantile)
from medflow.effects import _units, unit_effects
from medflow.flow import NodeFlows
from medflow.results import EFFECT_COLUMNS, EffectsResult

Q = [0.1, 0.5, 0.9]


def q_inv(x, q):
    return np.quantile(x, q, method="inverted_cdf")


@pytest.fixture(scope="module")
def small():
    sim = mf.datasets.simulate("nonlinear", 600, seed=3)
    # one member: the exact checks compare with unit-level counterfactuals of that flow
    # (test_ensemble_point_estimates_pool_the_members covers ensembles)
    fit = mf.CausalFlow(sim.model, sim.data).fit(seed=0, verbose=False, epochs=3, members=1)
    return sim, fit


@pytest.fixture(scope="module")
def contrast(small):
    x = small[0].data["X"]
    return dict(a=float(x.quantile(0.75)), a_ref=float(x.quantile(0.25)))


@pytest.fixture(scope="module")
def sem():
    sim = mf.datasets.simulate("linear", 2000, seed=1)
    return sim, mf.LinearSEM(sim.model, sim.data).fit()


# ---------------------------------------------------------------- the flow: exact checks
def test_quantile_and_threshold_rows_are_contrasts_of_unit_counterfactuals(small, contrast):
    sim, fit = small
    c = float(sim.data["Y"].median())
    res = fit.distributional_effects("X", "Y", mediators=["W"], quantiles=Q, threshold=[c],
                                     interventional=False, **contrast)
    unit = unit_effects(fit, "X", "Y", sim.data, mediators=["W"], **contrast)
    y_a, y_s, y_x = unit["Y(a)"], unit["Y(a_ref)"], unit["Y(a, W(a_ref))"]
    p = res.params
    for q in Q:
        assert p[f"TE [q={q:g}]"] == pytest.approx(q_inv(y_a, q) - q_inv(y_s, q), abs=1e-9)
        assert p[f"NDE via W [q={q:g}]"] == pytest.approx(q_inv(y_x, q) - q_inv(y_s, q), abs=1e-9)
        assert p[f"NIE via W [q={q:g}]"] == pytest.approx(q_inv(y_a, q) - q_inv(y_x, q), abs=1e-9)
    assert p[f"TE [P(Y > {c:g})]"] == pytest.approx(np.mean(y_a > c) - np.mean(y_s > c), abs=1e-12)
    assert p[f"NIE via W [P(Y > {c:g})]"] == pytest.approx(np.mean(y_a > c) - np.mean(y_x > c), abs=1e-12)


def test_mean_rows_equal_effects_and_quantile_rows_telescope(small, contrast):
    sim, fit = small
    res = fit.distributional_effects("X", "Y", mediators=["W", "U"], quantiles=Q, **contrast)
    means = fit.effects("X", "Y", mediators=["W", "U"], **contrast).table.set_index("label")
    tab = res.table.set_index("label")
    for label in ("TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U"):
        assert tab.loc[label, "estimate"] == pytest.approx(means.loc[label, "estimate"], abs=1e-9)
        assert np.isnan(tab.loc[label, "quantile"])
    for label in ("rNDE via W", "rNIE via W"):  # fresh draws, same seed: the same numbers
        assert tab.loc[label, "estimate"] == pytest.approx(means.loc[label, "estimate"], abs=1e-9)
    for q in Q:
        for m in ("W", "U"):
            te, nde, nie = (tab.loc[f"{e} [q={q:g}]", "estimate"] for e in ("TE", f"NDE via {m}", f"NIE via {m}"))
            assert te == pytest.approx(nde + nie, abs=1e-9)
        assert tab.loc[f"TE [q={q:g}]", "quantile"] == q


def test_table_schema_and_identification(small, contrast):
    _, fit = small
    res = fit.distributional_effects("X", "Y", mediators=["W"], quantiles=[0.25], threshold=0.0, **contrast)
    frame = res.to_frame()
    assert tuple(frame.columns) == EFFECT_COLUMNS
    assert list(frame["label"]) == [
        "TE", "TE [q=0.25]", "TE [P(Y > 0)]",
        "NDE via W", "NDE via W [q=0.25]", "NDE via W [P(Y > 0)]",
        "NIE via W", "NIE via W [q=0.25]", "NIE via W [P(Y > 0)]",
        "rNDE via W", "rNDE via W [q=0.25]", "rNDE via W [P(Y > 0)]",
        "rNIE via W", "rNIE via W [q=0.25]", "rNIE via W [P(Y > 0)]"]
    t = frame.set_index("label")
    assert not t.loc["NDE via W [q=0.25]", "identified"] and t.loc["NDE via W [q=0.25]", "witness"] == "U"
    assert t.loc["rNIE via W [q=0.25]", "identified"] and t.loc["TE [q=0.25]", "identified"]
    sd_y = sim_sd = small[0].data["Y"].std()
    assert t.loc["TE [q=0.25]", "estimate_sd"] == pytest.approx(t.loc["TE [q=0.25]", "estimate"] / sim_sd)
    assert t.loc["TE [P(Y > 0)]", "estimate_sd"] == t.loc["TE [P(Y > 0)]", "estimate"]  # no SD scaling
    assert sd_y > 0
    only_q = fit.distributional_effects("X", "Y", mediators=["W"], quantiles=[0.5], means=False,
                                        interventional=False, **contrast)
    assert list(only_q.params.index) == ["TE [q=0.5]", "NDE via W [q=0.5]", "NIE via W [q=0.5]"]


def test_bad_arguments_raise_clear_errors(small, contrast):
    _, fit = small
    with pytest.raises(ValueError, match=r"^quantiles must be numbers strictly between 0 and 1, got \[0, 0.5\]\.$"):
        fit.distributional_effects("X", "Y", quantiles=[0, 0.5], **contrast)
    with pytest.raises(ValueError, match=r"^quantiles has repeated values"):
        fit.distributional_effects("X", "Y", quantiles=[0.5, 0.5], **contrast)
    with pytest.raises(ValueError, match=r"^threshold must be one or more finite numbers, got \[nan\]\.$"):
        fit.distributional_effects("X", "Y", threshold=[np.nan], **contrast)
    with pytest.raises(ValueError, match="^Nothing to estimate"):
        fit.distributional_effects("X", "Y", quantiles=None, means=False, **contrast)
    with pytest.raises(ValueError, match="^n_boot must be 0"):
        fit.distributional_effects("X", "Y", n_boot=1, **contrast)
    with pytest.raises(ValueError, match="The outcome 'Z' is not a variable of the model"):
        fit.distributional_effects("X", "Z", **contrast)
    with pytest.raises(ValueError, match=r"^bins must be a whole number of at least 2, got 1\.$"):
        fit.mobility_table("X", "Y", bins=1)
    with pytest.raises(ValueError, match="^Give both mediators and a_ref"):
        fit.mobility_table("X", "Y", mediators="U")
    with pytest.raises(ValueError, match="^The origin 'Q' is not a variable of the model"):
        fit.mobility_table("Q", "Y")
    with pytest.raises(ValueError, match="^a_ref = 99 is outside the observed range of X"):
        fit.mobility_table("X", "Y", mediators="U", a_ref=99)
    with pytest.raises(ValueError, match="^V is not a descendant of X"):
        fit.mobility_table("X", "V", mediators="U", a_ref=0.0)


def test_weighted_quantile_of_a_pooled_ensemble():
    values = np.array([[0.0, 1, 2, 3], [10, 11, 12, 13]])
    pv, pw = _pooled(values, np.ones_like(values))
    assert weighted_quantile(pv, pw, [0.5, 0.9]).tolist() == [[3.0, 13.0]]
    # Each member has total weight 1/2 whatever its counts: member 0's mass sits on 0.
    pv, pw = _pooled(values, np.array([[2.0, 0, 0, 0], [1, 1, 1, 1]]))
    assert weighted_quantile(pv, pw, [0.5, 0.55]).tolist() == [[0.0, 10.0]]
    assert weighted_quantile(values, np.ones_like(values), [0.5]).tolist() == [[1.0], [11.0]]


def test_ensemble_point_estimates_pool_the_members(small, contrast):
    sim, fit = small
    flow = fit._require_fitted()
    ens = NodeFlows.replicate(flow, 2)
    with torch.no_grad():
        ens.log_scale[1] += 0.3  # member 1 spreads every node's noise more widely
    fit2 = copy.copy(fit)
    fit2.flow = ens
    res = fit2.distributional_effects("X", "Y", mediators=["W"], quantiles=Q, interventional=False, **contrast)
    members = []
    for k in range(2):
        one = copy.copy(fit)
        one.flow = ens.member(k)
        members.append(unit_effects(one, "X", "Y", sim.data, mediators=["W"], **contrast))
    assert not np.allclose(members[0]["Y(a)"], members[1]["Y(a)"])
    pool = {col: np.concatenate([m[col].to_numpy() for m in members]) for col in ("Y(a)", "Y(a_ref)")}
    p = res.params
    for q in Q:
        assert p[f"TE [q={q:g}]"] == pytest.approx(q_inv(pool["Y(a)"], q) - q_inv(pool["Y(a_ref)"], q), abs=1e-9)
    assert p["TE"] == pytest.approx(np.mean([m["TE"].mean() for m in members]), abs=1e-9)
    assert "pooled over the 2 ensemble members" in res.summary()
    mob = fit2.mobility_table("X", "Y", bins=3, mediators="U", a_ref=contrast["a_ref"])
    assert np.allclose(mob.counterfactual.sum(axis=1), 1.0)


def test_bootstrap_intervals_and_draws(small, contrast):
    _, fit = small
    res = fit.distributional_effects("X", "Y", mediators=["W"], quantiles=[0.5], threshold=0.0,
                                     interventional=False, n_boot=2, seed=1, verbose=False, **contrast)
    t = res.table
    assert res.draws.shape == (2, len(t))
    assert list(res.draws.columns) == list(t["label"])
    assert np.isfinite(t[["std_error", "ci_lower", "ci_upper"]].to_numpy()).all()
    assert (t["ci_lower"] <= t["ci_upper"]).all() and (t["level"] == 0.95).all() and (t["n_boot"] == 2).all()
    assert res.conf_int(level=0.5).shape == (len(t), 2)


def test_effects_tables_without_the_quantile_column_still_load():
    row = mf.results.effect_row(estimand="TE", path="X -> Y", treatment="X", outcome="Y", a=1, a_ref=0,
                                estimate=0.5, sd_outcome=2.0, method="linear")
    assert np.isnan(row["quantile"])
    old = pd.DataFrame([row]).drop(columns="quantile")
    assert np.isnan(EffectsResult(old).table["quantile"].iloc[0])


# ---------------------------------------------------------------- mobility tables
def test_observed_mobility_table_and_indices(small):
    sim, fit = small
    mob = fit.mobility_table("X", "Y", bins=4)
    x, y = sim.data["X"].to_numpy(), sim.data["Y"].to_numpy()
    xb = np.searchsorted(q_inv(x, [0.25, 0.5, 0.75]), x, side="left")
    yb = np.searchsorted(q_inv(y, [0.25, 0.5, 0.75]), y, side="left")
    expected = pd.crosstab(xb, yb, normalize="index").to_numpy()
    assert np.allclose(mob.observed.to_numpy(), expected)
    assert np.allclose(mob.observed.sum(axis=1), 1.0) and mob.counterfactual is None
    share = np.bincount(xb) / len(xb)
    ind = mob.indices["observed"]
    assert ind["immobility"] == pytest.approx(np.mean(xb == yb))
    assert ind["immobility"] == pytest.approx(share @ np.diag(expected))
    assert ind["shorrocks"] == pytest.approx((4 - np.trace(expected)) / 3)
    assert ind["rank_correlation"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert mob.observed.index[0] == f"Q1 (<= {q_inv(x, 0.25):.4g})"
    assert list(mob.indices.columns) == ["observed"]
    long = mob.to_frame()
    assert list(long.columns) == ["world", "origin_bin", "destination_bin", "probability", "method"]
    assert len(long) == 16


def test_counterfactual_mobility_uses_each_units_own_origin(small):
    sim, fit = small
    a_ref = float(sim.data["X"].quantile(0.25))
    gen = torch.Generator().manual_seed(0)
    flow = fit._require_fitted()
    units = _units(fit, flow, None, None, None, gen, None)
    cf = _own_origin_world(fit, flow, units, "X", "Y", ("U",), a_ref, gen)[0]
    for i in (0, 7, 123, 599):
        row = sim.data.iloc[[i]]
        unit = unit_effects(fit, "X", "Y", row, mediators=["U"], a=float(row["X"].iloc[0]), a_ref=a_ref)
        assert cf[i] == pytest.approx(unit["Y(a, U(a_ref))"].iloc[0], abs=1e-6)
    mob = fit.mobility_table("X", "Y", bins=4, mediators="U", a_ref=a_ref)
    again = _mobility(sim.data["X"].to_numpy(float), sim.data["Y"].to_numpy(float), cf[None],
                      np.ones((1, len(cf))), 4, "X", "Y", ("U",), a_ref, "flow", [], "")
    assert np.allclose(mob.counterfactual.to_numpy(), again.counterfactual.to_numpy())
    assert np.allclose(mob.counterfactual.sum(axis=1), 1.0)
    assert list(mob.indices.columns) == ["observed", "counterfactual"]
    w = fit.mobility_table("X", "Y", bins=4, mediators="W", a_ref=a_ref)
    assert any("not identified" in n and "U" in n for n in w.notes)
    assert "Counterfactual (U at its value under X = " in mob.summary()


def test_mobility_bins_need_distinct_cut_points(small):
    sim, fit = small
    data = sim.data.copy()
    data["Y"] = (data["Y"] > data["Y"].quantile(0.9)).astype(int)
    coarse = mf.CausalFlow(sim.model, data).fit(seed=0, verbose=False, epochs=1)
    with pytest.raises(ValueError, match=r"^Y has too few distinct values for 5 quantile bins"):
        coarse.mobility_table("X", "Y", bins=5)


def test_mobility_plot_draws_two_heatmaps(small):
    import matplotlib
    matplotlib.use("Agg")
    sim, fit = small
    mob = fit.mobility_table("X", "Y", bins=3, mediators="U", a_ref=float(sim.data["X"].median()))
    axes = mob.plot()
    assert len(axes) == 2
    assert axes[0].get_title() == "Observed"
    assert [t.get_text() for t in axes[0].texts][:3] == [f"{100 * v:.0f}" for v in mob.observed.iloc[0]]
    import matplotlib.pyplot as plt
    plt.close("all")


# ---------------------------------------------------------------- linear SEM counterparts
def test_linear_quantile_effects_are_its_mean_effects(sem):
    sim, res = sem
    dist = res.distributional_effects("X", "Y", mediators=["W", "U"], a=1.0, a_ref=0.0, quantiles=Q,
                                      threshold=[0.5], n_sim=20_000)
    means = res.effects("X", "Y", mediators=["W", "U"], a=1.0, a_ref=0.0).params
    t = dist.table.set_index("label")
    for label, mean in means.items():
        assert t.loc[label, "estimate"] == pytest.approx(mean, abs=1e-9)
        for q in Q:
            assert t.loc[f"{label} [q={q:g}]", "estimate"] == pytest.approx(mean, abs=1e-9)
    assert (t["method"] == "linear SEM").all()
    assert not t.loc["NIE via W [q=0.5]", "identified"]
    assert t.loc["NIE via W [q=0.5]", "assumption"] == mf.linear.LINEAR_ASSUMPTION
    assert 0 < t.loc["TE [P(Y > 0.5)]", "estimate"] < 1
    flow_like = dist.table.copy()
    flow_like["method"] = "flow"
    both = mf.compare(EffectsResult(flow_like), dist, names=["flow", "linear"])
    assert list(dict.fromkeys(both["label"])) == list(t.index)


def test_linear_counterfactual_worlds_by_path_tracing(sem):
    sim, res = sem
    b = {(p, c): v for (p, c), v in res._theta.items()}
    via_u = b[("X", "U")] * (b[("U", "Y")] + b[("U", "W")] * b[("W", "Y")])
    worlds = _LinearWorlds(res, "X", "Y", None, -0.5, 5000, np.random.default_rng(0))
    worlds.a = worlds.x["X"]
    every = res.dag.paths("X", "Y")
    avoid = [p for p in every if "U" not in p]
    cf = worlds.path_world(avoid)[0]
    assert np.allclose(cf, worlds.x["Y"] - via_u * (worlds.x["X"] + 0.5), atol=1e-9)
    mob = res.mobility_table("X", "Y", bins=5, mediators="U", a_ref=-0.5, n_sim=5000)
    assert np.allclose(mob.counterfactual.sum(axis=1), 1.0)
    assert mob.indices.loc["rank_correlation", "counterfactual"] < mob.indices.loc["rank_correlation", "observed"]
    assert mob.method == "linear SEM"


def test_linear_threshold_needs_means():
    corr = mf.datasets.blau_duncan_correlations()
    res = mf.LinearSEM.from_moments(mf.datasets.MODEL, corr, n=20700).fit()
    with pytest.raises(ValueError, match="^threshold= needs the variables' means"):
        res.distributional_effects("X", "Y", threshold=0.0, n_sim=1000)
    with pytest.raises(ValueError, match=r"^n_sim must be a whole number of at least 100, got 10\.$"):
        res.distributional_effects("X", "Y", n_sim=10)
    out = res.distributional_effects("X", "Y", mediators="W", a=1, a_ref=0, quantiles=[0.5], n_sim=1000)
    assert out.params["NIE via W [q=0.5]"] == pytest.approx(res.effects("X", "Y", mediators="W", a=1, a_ref=0)
                                                            .params["NIE via W"], abs=1e-9)


# ---------------------------------------------------------------- the truth oracles
def test_potential_outcomes_agree_with_the_world_values_oracle():
    scm = designs._SCMS["nonlinear"]
    rng = np.random.default_rng(0)
    eps, fresh = rng.standard_normal((3000, 5)), rng.standard_normal((3000, 2))
    a, a_ref = scm.default_contrast()
    effects = oracle._world_values(scm, eps, fresh, a, a_ref)
    worlds = oracle._potential_outcomes(scm, eps, fresh, a, a_ref)
    for label, (hi, lo) in worlds.items():
        assert np.array_equal(hi - lo, effects[label]), label


def test_quantile_truth_of_the_linear_model_is_a_shift():
    scm = designs._SCMS["linear"]
    rng = np.random.default_rng(1)
    eps, fresh = rng.standard_normal((5000, 5)), rng.standard_normal((5000, 2))
    truth = oracle._distributional_truth(scm, eps, fresh, 1.0, 0.0, quantiles=Q, thresholds=[0.0])
    exact = oracle._path_tracing_truth(scm, 1.0, 0.0).set_index("label")["truth"]
    t = truth.set_index("label")
    for label in ("TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U"):
        for q in Q:
            assert t.loc[f"{label} [q={q:g}]", "truth"] == pytest.approx(exact[label], abs=1e-9)
    y_a = scm.solve(eps, x=1.0)["Y"].to_numpy()
    y_s = scm.solve(eps, x=0.0)["Y"].to_numpy()
    assert t.loc["TE [P(Y > 0)]", "truth"] == pytest.approx(np.mean(y_a > 0) - np.mean(y_s > 0))


def test_mobility_truth_of_the_linear_model():
    scm = designs._SCMS["linear"]
    eps = np.random.default_rng(2).standard_normal((2000, 5))
    c = scm.coef
    via_u = c["U"]["X"] * (c["Y"]["U"] + c["W"]["U"] * c["Y"]["W"])
    via_w = c["W"]["X"] * c["Y"]["W"] + c["U"]["X"] * c["W"]["U"] * c["Y"]["W"]
    data = scm.solve(eps)
    x, y = data["X"].to_numpy(), data["Y"].to_numpy()
    assert np.allclose(oracle._mobility_truth(scm, eps, -0.5, "U"), y - via_u * (x + 0.5))
    assert np.allclose(oracle._mobility_truth(scm, eps, -0.5, "W"), y - via_w * (x + 0.5))
    with pytest.raises(ValueError, match="mediators must be 'U', 'W' or 'U\\+W'"):
        oracle._mobility_truth(scm, eps, 0.0, "V")


# ---------------------------------------------------------------- accuracy (slow)
@pytest.mark.slow
def test_accuracy_against_shared_noise_truth_at_n_20700():
    """Issue 19: quantile effects within 0.04 SD(Y), counterfactual table cells within 0.03."""
    torch.set_num_threads(1)
    sim = mf.datasets.simulate("nonlinear", 20_700, seed=0)
    scm = designs._SCMS["nonlinear"]
    a, a_ref = (float(v) for v in sim.truth[["a", "a_ref"]].iloc[0])
    fit = mf.CausalFlow(sim.model, sim.data).fit(seed=0, verbose=False)
    res = fit.distributional_effects("X", "Y", mediators=["W", "U"], a=a, a_ref=a_ref, seed=0)
    eps = sim.noise.to_numpy()
    fresh = np.random.default_rng(0).standard_normal((len(eps), 2))
    truth = oracle._distributional_truth(scm, eps, fresh, a, a_ref).set_index("label")["truth_sd"]
    est = res.table.dropna(subset=["quantile"]).set_index("label")["estimate_sd"]
    err = (est - truth.reindex(est.index)).dropna()
    assert len(err) == 45  # TE, and NDE/NIE/rNDE/rNIE via W and via U, at five quantiles
    assert (err.abs() < 0.04).all(), err[err.abs() >= 0.04].round(4).to_dict()
    x25 = float(np.quantile(sim.data["X"], 0.25))
    mob = fit.mobility_table("X", "Y", bins=5, mediators="U", a_ref=x25)
    cf = oracle._mobility_truth(scm, eps, x25, "U")
    true = _mobility(sim.data["X"].to_numpy(float), sim.data["Y"].to_numpy(float), cf[None],
                     np.ones((1, len(cf))), 5, "X", "Y", ("U",), x25, "truth", [], "")
    cells = np.abs(mob.counterfactual.to_numpy() - true.counterfactual.to_numpy())
    assert cells.max() < 0.03, cells.round(3)


def test_quantile_plot_draws_one_line_per_effect_and_result(small, contrast, sem):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medflow.distributional import plot_quantile_effects

    _, fit = small
    flow = fit.distributional_effects("X", "Y", mediators=["W"], quantiles=Q, means=False,
                                      interventional=False, **contrast)
    lin = sem[1].distributional_effects("X", "Y", mediators=["W"], quantiles=Q, means=False,
                                        interventional=False, n_sim=1000, **contrast)
    ax = plot_quantile_effects(flow, lin, labels=["TE", "NIE via W"])
    drawn = [line for line in ax.lines if line.get_label().startswith(("TE", "NIE"))]
    assert [line.get_label() for line in drawn] == ["TE (flow)", "NIE via W (flow)", "TE (linear SEM)",
                                                    "NIE via W (linear SEM)"]
    assert list(drawn[0].get_xdata()) == Q
    assert drawn[2].get_linestyle() == "--" and drawn[0].get_color() == drawn[2].get_color()
    with pytest.raises(ValueError, match="^scale must be 'raw' or 'sd', got 'log'.$"):
        plot_quantile_effects(flow, scale="log")
    plt.close("all")
