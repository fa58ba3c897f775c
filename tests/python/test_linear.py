"""Tests of medflow.linear: Blau–Duncan numbers, OLS identities, lavaan cross-checks, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from medflow.linear import LINEAR_ASSUMPTION, LinearSEM
from medflow.results import EFFECT_COLUMNS, compare

BD_MODEL = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
NAMES = ["V", "X", "U", "W", "Y"]
# Blau & Duncan (1967), p. 169 (docs/design.md §1).
BD_CORR = pd.DataFrame(
    [[1, .516, .453, .332, .322],
     [.516, 1, .438, .417, .405],
     [.453, .438, 1, .538, .596],
     [.332, .417, .538, 1, .541],
     [.322, .405, .596, .541, 1]], index=NAMES, columns=NAMES, dtype=float)
BD_N = 20700

# Structural coefficients of the simulated linear SCM (Blau–Duncan graph).
TRUE = {("V", "U"): 0.3, ("X", "U"): 0.3, ("U", "W"): 0.4, ("X", "W"): 0.2,
        ("U", "Y"): 0.4, ("X", "Y"): 0.1, ("W", "Y"): 0.3}
TRUE_TE = 0.1 + 0.3 * 0.4 + 0.2 * 0.3 + 0.3 * 0.4 * 0.3   # all four paths X ⇝ Y
TRUE_NIE_W = 0.2 * 0.3 + 0.3 * 0.4 * 0.3                  # X->W->Y, X->U->W->Y
TRUE_NIE_U = 0.3 * 0.4 + 0.3 * 0.4 * 0.3                  # X->U->Y, X->U->W->Y


def simulate(n: int, seed: int, binary_x: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n, 5))
    v = 12 + 3 * e[:, 0]
    x = (rng.random(n) < 1 / (1 + np.exp(-(v - 12) / 3))).astype(float) if binary_x \
        else 40 + 2 * (v - 12) + 10 * e[:, 1]
    u = 2 + TRUE[("V", "U")] * v + TRUE[("X", "U")] * x + 2 * e[:, 2]
    w = 5 + TRUE[("U", "W")] * u + TRUE[("X", "W")] * x + 3 * e[:, 3]
    y = -1 + TRUE[("U", "Y")] * u + TRUE[("X", "Y")] * x + TRUE[("W", "Y")] * w + 2.5 * e[:, 4]
    return pd.DataFrame({"V": v, "X": x, "U": u, "W": w, "Y": y})


@pytest.fixture(scope="module")
def bd():
    return LinearSEM.from_moments(BD_MODEL, BD_CORR, n=BD_N).fit()


@pytest.fixture(scope="module")
def sim():
    return simulate(1500, seed=7)


def coef(params: pd.DataFrame, lhs: str, rhs: str, col: str = "est") -> float:
    row = params[(params["lhs"] == lhs) & (params["op"] == "~") & (params["rhs"] == rhs)]
    assert len(row) == 1
    return float(row[col].iloc[0])


# ---------------------------------------------------------------- Blau–Duncan (published)
def test_blau_duncan_standardized_coefficients_and_residual_paths(bd):
    published = {("U", "V"): .310, ("U", "X"): .279, ("W", "U"): .440, ("W", "X"): .224,
                 ("Y", "U"): .394, ("Y", "X"): .115, ("Y", "W"): .281}
    for (lhs, rhs), value in published.items():
        assert coef(bd.params, lhs, rhs, "std_all") == pytest.approx(value, abs=0.002), (lhs, rhs)
        # from a correlation matrix the unstandardized coefficients are the standardized ones
        assert coef(bd.params, lhs, rhs) == pytest.approx(coef(bd.params, lhs, rhs, "std_all"), abs=1e-12)
    assert bd.residual_paths.to_dict() == pytest.approx({"U": .859, "W": .818, "Y": .753}, abs=0.002)
    assert bd.root_correlations["V ~~ X"] == pytest.approx(0.516)
    assert bd.source == "correlation matrix" and bd.n == BD_N


def test_blau_duncan_path_tracing(bd):
    res = bd.effects("X", "Y", mediators=["W", "U"])
    p = res.params
    assert p["TE"] == pytest.approx(.322, abs=0.002)
    assert p["NIE via W"] == pytest.approx(.097, abs=0.002)
    assert p["NDE via W"] == pytest.approx(.225, abs=0.002)
    assert p["NIE via W"] + p["NDE via W"] == pytest.approx(p["TE"], abs=1e-12)
    assert p["rNDE via W"] == pytest.approx(p["NDE via W"], abs=1e-12)
    assert p["rNIE via U"] == pytest.approx(p["NIE via U"], abs=1e-12)
    # per 1 SD of X from a correlation matrix (mean + 1 SD vs mean, mean 0)
    assert (res.table["a"] == 1.0).all() and (res.table["a_ref"] == 0.0).all()
    assert res.table["estimate_sd"].to_numpy() == pytest.approx(res.table["estimate"].to_numpy())
    assert any("mean + 1 SD vs mean" in note for note in res.notes)
    assert any("rNDE/rNIE equal NDE/NIE" in note for note in res.notes)
    single = {path: bd.path_effects("X", "Y", [path]).params.iloc[0]
              for path in ["X -> W -> Y", "X -> U -> W -> Y", "X -> Y", "X -> U -> Y"]}
    assert single == pytest.approx({"X -> W -> Y": .063, "X -> U -> W -> Y": .034,
                                    "X -> Y": .115, "X -> U -> Y": .110}, abs=0.002)
    both = bd.path_effects("X", "Y", ["X -> W -> Y", "X -> U -> W -> Y"])
    assert both.table["label"].tolist() == ["PSE: X -> W -> Y; X -> U -> W -> Y"]
    assert both.params.iloc[0] == pytest.approx(p["NIE via W"], abs=1e-12)


def test_blau_duncan_sequential_decomposition(bd):
    res = bd.decompose("X", "Y", order=["U", "W"])
    assert res.table["label"].tolist() == ["TE", "PART via U", "PART via W", "PART direct"]
    p = res.params
    assert p["PART via U"] == pytest.approx(.110 + .034, abs=0.002)
    assert p["PART via W"] == pytest.approx(.063, abs=0.002)
    assert p["PART direct"] == pytest.approx(.115, abs=0.002)
    assert p[1:].sum() == pytest.approx(p["TE"], abs=1e-12)
    # the other order attributes X -> U -> W -> Y to W
    q = bd.decompose("X", "Y", order=["W", "U"]).params
    assert q["PART via W"] == pytest.approx(p["PART via W"] + 0.0345, abs=0.001)


def test_blau_duncan_alwin_hauser_table(bd):
    t = bd.decomposition_table("X", "Y")
    assert t.index.tolist() == ["total association", "total effect", "indirect via U",
                                "indirect via W", "direct effect", "non-causal"]
    e = t["estimate"]
    assert e["total association"] == pytest.approx(.405, abs=1e-12)
    assert e["total effect"] == pytest.approx(.322, abs=0.001)
    assert e["non-causal"] == pytest.approx(.083, abs=0.001)
    assert e["direct effect"] == pytest.approx(.115, abs=0.001)
    assert e["indirect via U"] + e["indirect via W"] + e["direct effect"] == pytest.approx(e["total effect"])
    assert t.loc["indirect via W", "paths"] == "X -> W -> Y"
    # an endogenous cause: U -> Y directly and through W
    u = bd.decomposition_table("U", "Y")["estimate"]
    assert u["total association"] == pytest.approx(.596, abs=1e-12)
    assert u["total effect"] == pytest.approx(
        bd.effects("U", "Y", interventional=False).params["TE"], abs=1e-12)
    assert u["total effect"] == pytest.approx(
        coef(bd.params, "Y", "U") + coef(bd.params, "W", "U") * coef(bd.params, "Y", "W"), abs=1e-12)


def test_identification_flags(bd):
    t = bd.effects("X", "Y", mediators=["U", "W"]).table.set_index("label")
    assert not t.loc["NDE via W", "identified"] and t.loc["NIE via W", "witness"] == "U"
    assert t.loc["NIE via W", "assumption"] == LINEAR_ASSUMPTION
    assert t.loc[["TE", "NDE via U", "NIE via U", "rNDE via W", "rNIE via W"], "identified"].all()
    assert set(t["method"]) == {"linear SEM"}
    assert list(bd.effects("X", "Y").table.columns) == list(EFFECT_COLUMNS)
    # default mediators: the intervening variables one at a time, in causal order
    assert bd.effects("X", "Y", interventional=False).table["label"].tolist() == [
        "TE", "NDE via U", "NIE via U", "NDE via W", "NIE via W"]


def test_joint_mediators_are_labelled_in_causal_order(bd):
    p = bd.effects("X", "Y", mediators=[("W", "U")], interventional=False).params
    assert list(p.index) == ["TE", "NDE via U+W", "NIE via U+W"]
    assert p["NDE via U+W"] == pytest.approx(coef(bd.params, "Y", "X"), abs=1e-12)


# ---------------------------------------------------------------- OLS identities
def test_data_fit_matches_statsmodels_and_moments(sim):
    fit = LinearSEM(BD_MODEL, sim).fit()
    ols = sm.OLS(sim["Y"], sm.add_constant(sim[["U", "X", "W"]])).fit()
    par = fit.params
    for name in ["U", "X", "W"]:
        assert coef(par, "Y", name) == pytest.approx(ols.params[name], rel=1e-12)
        assert coef(par, "Y", name, "se") == pytest.approx(ols.bse[name], rel=1e-12)
    assert fit.rsquared["Y"] == pytest.approx(ols.rsquared, rel=1e-12)
    sd = sim.std()
    assert coef(par, "Y", "W", "std_all") == pytest.approx(ols.params["W"] * sd["W"] / sd["Y"], rel=1e-12)
    # normal equations on the sample covariance and means = OLS on the data, SEs included
    mom = LinearSEM.from_moments(BD_MODEL, sim.cov(), n=len(sim), means=sim.mean()).fit()
    assert mom.source == "covariance matrix"
    cols = ["est", "se", "z", "std_all"]
    pd.testing.assert_frame_equal(mom.params[cols], par[cols], rtol=1e-9)
    assert mom.params["op"].tolist().count("~1") == 3
    for lhs in ["U", "W", "Y"]:  # full covariance of (intercept, slopes), off-diagonal included
        np.testing.assert_allclose(mom.equations[lhs].cov, fit.equations[lhs].cov, rtol=1e-8)


def test_effects_recover_simulated_truth():
    df = simulate(20000, seed=11)
    fit = LinearSEM(BD_MODEL, df).fit()
    res = fit.effects("X", "Y", mediators=["W", "U"], a=1.0, a_ref=0.0, interventional=False)
    truth = {"TE": TRUE_TE, "NIE via W": TRUE_NIE_W, "NDE via W": TRUE_TE - TRUE_NIE_W,
             "NIE via U": TRUE_NIE_U, "NDE via U": TRUE_TE - TRUE_NIE_U}
    z = (res.params[list(truth)] - pd.Series(truth)) / res.bse[list(truth)]
    assert (z.abs() < 4).all(), z
    assert (res.bse < 0.01).all()


def test_default_contrasts():
    df = simulate(800, seed=2)
    fit = LinearSEM(BD_MODEL, df).fit()
    res = fit.effects("X", "Y", mediators=["W"])
    # the one default contrast (medflow.estimands.default_contrast): observed values nearest
    # to the 75th and 25th percentiles
    q25, q75 = np.quantile(df["X"], [0.25, 0.75], method="nearest")
    assert q75 in df["X"].to_numpy() and q25 in df["X"].to_numpy()
    assert res.table["a"].iloc[0] == q75 and res.table["a_ref"].iloc[0] == q25
    per_unit = fit.effects("X", "Y", mediators=["W"], a=1, a_ref=0).params
    assert res.params.to_numpy() == pytest.approx((q75 - q25) * per_unit.to_numpy(), rel=1e-12)
    assert res.table["estimate_sd"].to_numpy() == pytest.approx(
        res.table["estimate"].to_numpy() / df["Y"].std(), rel=1e-12)
    assert "75th vs 25th percentile" in res.notes[0]
    binary = LinearSEM(BD_MODEL, simulate(800, seed=2, binary_x=True)).fit().effects("X", "Y")
    assert (binary.table["a"] == 1).all() and (binary.table["a_ref"] == 0).all()
    mom = LinearSEM.from_moments(BD_MODEL, df.cov(), n=len(df), means=df.mean()).fit()
    t = mom.effects("X", "Y").table
    assert t["a"].iloc[0] == pytest.approx(df["X"].mean() + df["X"].std())
    assert t["a_ref"].iloc[0] == pytest.approx(df["X"].mean())


def test_delta_method_matches_sobel():
    rng = np.random.default_rng(5)
    x = rng.normal(size=600)
    m = 0.5 * x + rng.normal(size=600)
    y = 0.3 * m + 0.2 * x + rng.normal(size=600)
    df = pd.DataFrame({"X": x, "M": m, "Y": y})
    fit = LinearSEM("M ~ X; Y ~ X + M", df).fit()
    a_ = sm.OLS(df["M"], sm.add_constant(df[["X"]])).fit()
    b_ = sm.OLS(df["Y"], sm.add_constant(df[["X", "M"]])).fit()
    sobel = np.sqrt(b_.params["M"] ** 2 * a_.bse["X"] ** 2 + a_.params["X"] ** 2 * b_.bse["M"] ** 2)
    res = fit.effects("X", "Y", mediators=["M"], a=3.0, a_ref=1.0)  # default level 0.95
    assert (res.table["level"] == 0.95).all()
    assert res.params["NIE via M"] == pytest.approx(2 * a_.params["X"] * b_.params["M"], rel=1e-12)
    assert res.bse["NIE via M"] == pytest.approx(2 * sobel, rel=1e-12)
    lo, hi = res.conf_int().loc["NIE via M"]
    assert hi - lo == pytest.approx(2 * 1.959964 * 2 * sobel, rel=1e-5)
    lo, hi = fit.effects("X", "Y", mediators=["M"], a=3.0, a_ref=1.0, level=0.90).conf_int().loc["NIE via M"]
    assert hi - lo == pytest.approx(2 * 1.644854 * 2 * sobel, rel=1e-5)


def test_bootstrap_is_reproducible_and_agrees_with_delta(sim):
    fit = LinearSEM(BD_MODEL, sim).fit()
    kw = dict(mediators=["W"], a=1, a_ref=0, interventional=False)
    b1 = fit.effects("X", "Y", n_boot=200, seed=3, **kw)
    b2 = fit.effects("X", "Y", se="bootstrap", n_boot=200, seed=3, **kw)
    b3 = fit.effects("X", "Y", n_boot=200, seed=4, **kw)
    d = fit.effects("X", "Y", **kw)
    pd.testing.assert_frame_equal(b1.draws, b2.draws)
    assert not np.allclose(b1.draws.to_numpy(), b3.draws.to_numpy())
    assert b1.draws.shape == (200, 3)
    assert (b1.table["n_boot"] == 200).all() and (d.table["n_boot"] == 0).all()
    assert b1.params.to_numpy() == pytest.approx(d.params.to_numpy(), rel=1e-12)
    ratio = b1.bse / d.bse
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio
    q = b1.draws.quantile([0.025, 0.975]).T  # the default level is 0.95
    assert b1.conf_int().to_numpy() == pytest.approx(q.to_numpy())
    side = compare(d, b1, names=["delta", "bootstrap"])
    assert side.shape == (6, 15) and side["name"].tolist() == ["delta", "bootstrap"] * 3


def test_summary_and_params_layout(bd, sim):
    text = bd.summary()
    assert "Equation for Y:  R-squared 0.434,  residual path 0.753" in text
    assert "Correlated roots: V ~~ X  r = 0.516" in text
    par = LinearSEM(BD_MODEL, sim).fit().params
    assert list(par.columns) == ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
    assert par["op"].value_counts().to_dict() == {"~": 7, "~~": 6, "~1": 3}
    assert bd.cov_params().shape == (7, 7)
    assert bd.cov_params().loc["U ~ V", "Y ~ W"] == 0.0


def test_alwin_hauser_equals_successive_reduced_form_regressions():
    # In a just-identified model the reduced-form coefficients are sample regressions.
    rng = np.random.default_rng(8)
    n = 700
    v = rng.normal(size=n)
    x = 0.6 * v + rng.normal(size=n)
    u = 0.3 * v + 0.4 * x + rng.normal(size=n)
    w = 0.2 * v + 0.5 * u + 0.1 * x + rng.normal(size=n)
    y = 0.1 * v + 0.3 * u + 0.2 * x + 0.4 * w + rng.normal(size=n)
    df = pd.DataFrame({"V": v, "X": x, "U": u, "W": w, "Y": y})
    fit = LinearSEM("X ~ V; U ~ V + X; W ~ V + U + X; Y ~ V + U + X + W", df).fit()

    def slope(frame, regressors):
        return sm.OLS(frame["Y"], sm.add_constant(frame[regressors])).fit().params["X"]

    for standardized in (False, True):
        frame = (df - df.mean()) / df.std() if standardized else df
        t = fit.decomposition_table("X", "Y", standardized=standardized)["estimate"]
        b0, b1 = slope(frame, ["X"]), slope(frame, ["V", "X"])
        b2, b3 = slope(frame, ["V", "X", "U"]), slope(frame, ["V", "X", "U", "W"])
        assert t["total association"] == pytest.approx(b0, rel=1e-10)
        assert t["total effect"] == pytest.approx(b1, rel=1e-10)
        assert t["non-causal"] == pytest.approx(b0 - b1, rel=1e-8)
        assert t["indirect via U"] == pytest.approx(b1 - b2, rel=1e-8)
        assert t["indirect via W"] == pytest.approx(b2 - b3, rel=1e-8)
        assert t["direct effect"] == pytest.approx(b3, rel=1e-10)


# ---------------------------------------------------------------- lavaan cross-checks
# lavaan's ML fit of a recursive model with independent disturbances factorizes into the
# equations, so its estimates are the OLS ones. Its residual variances are RSS/N instead of
# RSS/(N − k), so its standard errors are the OLS ones times sqrt((N − k)/N), k = slopes + 1 in
# that equation; fit(df_correction=False) uses RSS/N and must match lavaan directly. We ask
# lavaan for the observed information (the Hessian of the likelihood), whose coefficient block
# is exactly σ²(X'X)⁻¹; lavaan's default expected information evaluates E[X'X] at the
# model-implied moments, which coincide with the sample ones here but not in every graph.
LAVAAN_MODEL = "U ~ V + X\nW ~ U + X\nY ~ U + X + W"


def _merge(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    keep = ours[ours["se"].notna()]
    return keep.merge(theirs, on=["lhs", "op", "rhs"], suffixes=("", "_lav"), validate="one_to_one")


def test_lavaan_simulated_data(lavaan, sim):
    lav = lavaan.sem(LAVAAN_MODEL, data=sim, meanstructure=True, information="observed")
    ml = _merge(LinearSEM(BD_MODEL, sim).fit(df_correction=False).params, lav)
    assert len(ml) == 7 + 3 + 3  # slopes, intercepts, residual variances
    assert ml["est"].to_numpy() == pytest.approx(ml["est_lav"].to_numpy(), abs=1e-6)
    assert ml["se"].to_numpy() == pytest.approx(ml["se_lav"].to_numpy(), rel=1e-3)
    # std_all of slopes and residual variances (an intercept's differs: lavaan divides it by
    # the SD with divisor N, medflow by the sample SD)
    std = ml[ml["op"] != "~1"]
    assert std["std_all"].to_numpy() == pytest.approx(std["std_all_lav"].to_numpy(), abs=1e-6)
    # default OLS standard errors = lavaan's rescaled by sqrt(N / (N − k))
    ols = _merge(LinearSEM(BD_MODEL, sim).fit().params, lav)
    slopes = ols[ols["op"] == "~"]
    k = slopes["lhs"].map({"U": 3, "W": 3, "Y": 4})
    n = len(sim)
    assert slopes["est"].to_numpy() == pytest.approx(slopes["est_lav"].to_numpy(), abs=1e-6)
    assert slopes["se"].to_numpy() == pytest.approx(
        (slopes["se_lav"] * np.sqrt(n / (n - k))).to_numpy(), rel=1e-3)


def test_lavaan_correlation_matrix(lavaan, bd):
    lav = lavaan.sem(LAVAAN_MODEL, sample_cov=BD_CORR, sample_nobs=BD_N, information="observed")
    ml = _merge(LinearSEM.from_moments(BD_MODEL, BD_CORR, n=BD_N).fit(df_correction=False).params, lav)
    assert len(ml) == 7 + 3
    assert ml["est"].to_numpy() == pytest.approx(ml["est_lav"].to_numpy(), abs=1e-6)
    assert ml["se"].to_numpy() == pytest.approx(ml["se_lav"].to_numpy(), rel=1e-3)
    slopes = _merge(bd.params, lav).query("op == '~'")
    assert slopes["est"].to_numpy() == pytest.approx(slopes["est_lav"].to_numpy(), abs=1e-6)
    assert slopes["std_all"].to_numpy() == pytest.approx(slopes["std_all_lav"].to_numpy(), abs=1e-6)


def test_lavaan_defined_indirect_effects(lavaan, sim):
    labelled = ("U ~ V + a1*X\nW ~ b1*U + a2*X\nY ~ c1*U + c0*X + c2*W\n"
                "nie_w := a2*c2 + a1*b1*c2\nnie_u := a1*c1 + a1*b1*c2\n"
                "te := c0 + a1*c1 + a2*c2 + a1*b1*c2")
    lav = lavaan.sem(labelled, data=sim, information="observed")
    lav = lav[lav["label"] != ""].set_index("label")
    res = LinearSEM(BD_MODEL, sim).fit(df_correction=False).effects(
        "X", "Y", mediators=["W", "U"], a=1, a_ref=0, interventional=False)
    for ours, theirs in [("NIE via W", "nie_w"), ("NIE via U", "nie_u"), ("TE", "te")]:
        assert lav.loc[theirs, "op"] == ":="
        assert res.params[ours] == pytest.approx(lav.loc[theirs, "est"], abs=1e-6)
        assert res.bse[ours] == pytest.approx(lav.loc[theirs, "se"], rel=1e-3)
    # a single path: X -> W -> Y = a2 * c2, on a contrast of 2 units
    pse = LinearSEM(BD_MODEL, sim).fit().path_effects("X", "Y", ["X -> W -> Y"], a=3, a_ref=1)
    assert pse.params.iloc[0] == pytest.approx(2 * lav.loc["a2", "est"] * lav.loc["c2", "est"], abs=1e-6)


# ---------------------------------------------------------------- bad input
def _err(text: str):
    return pytest.raises(ValueError, match=re.escape(text))


def test_matrix_errors():
    singular = simulate(200, seed=1)
    singular["W"] = singular["U"] + 2 * singular["X"]
    with _err("The matrix is singular (smallest eigenvalue"):
        LinearSEM.from_moments(BD_MODEL, singular.cov(), n=200)
    bad = pd.DataFrame([[1, .9, -.9], [.9, 1, .9], [-.9, .9, 1]], index=list("XMY"), columns=list("XMY"))
    with _err("The matrix is not positive definite (smallest eigenvalue -0."):
        LinearSEM.from_moments("M ~ X; Y ~ X + M", bad, n=100)
    renamed = BD_CORR.rename(index={"W": "Q"}, columns={"W": "Q"})
    with _err("The matrix has no row and column for the model variable(s) W; its variables are "
              "V, X, U, Q, Y."):
        LinearSEM.from_moments(BD_MODEL, renamed, n=BD_N)
    asym = BD_CORR.copy()
    asym.loc["V", "X"] = 0.5
    with _err("The matrix is not symmetric: entry [V, X] is 0.5 but [X, V] is 0.516."):
        LinearSEM.from_moments(BD_MODEL, asym, n=BD_N)
    with _err("N = 4 is too small for the model: the equation for Y has 4 coefficients "
              "(3 slopes and an intercept), so N must be at least 5."):
        LinearSEM.from_moments(BD_MODEL, BD_CORR, n=4)
    with _err("The matrix needs the same variable names, in the same order, as its index and its columns."):
        LinearSEM.from_moments(BD_MODEL, BD_CORR.loc[NAMES[::-1], NAMES], n=BD_N)
    holes = BD_CORR.copy()
    holes.loc["U", "U"] = np.nan
    with _err("The matrix has missing or non-finite entries."):
        LinearSEM.from_moments(BD_MODEL, holes, n=BD_N)
    with _err("means lack the model variable(s) Y."):
        LinearSEM.from_moments(BD_MODEL, BD_CORR, n=BD_N, means={"V": 0, "X": 0, "U": 0, "W": 0})
    with pytest.raises(TypeError, match="cov_or_corr must be a pandas DataFrame"):
        LinearSEM.from_moments(BD_MODEL, BD_CORR.to_numpy(), n=BD_N)


def test_data_errors(sim):
    text = sim.assign(U=sim["U"].map("{:.2f}".format))
    with _err("Model variables must be numeric; not numeric: U ("):
        LinearSEM(BD_MODEL, text)
    holes = sim.copy()
    holes.loc[[3, 9], "W"] = np.nan
    with _err("The data have missing values (W: 2). Remove or impute them, or pass missing='drop' "
              "to drop incomplete rows."):
        LinearSEM(BD_MODEL, holes)
    with _err("The model variable(s) W are not columns of the data (columns: V, X, U, Y)."):
        LinearSEM(BD_MODEL, sim.drop(columns="W"))
    with _err("The column(s) V are constant"):
        LinearSEM(BD_MODEL, sim.assign(V=1.0))
    with _err("The covariance matrix of the data is singular (smallest eigenvalue"):
        LinearSEM(BD_MODEL, sim.assign(W=sim["U"] - sim["X"]))
    with _err("N = 3 is too small for the model: the equation for Y has 4 coefficients"):
        LinearSEM(BD_MODEL, sim.head(3))


def test_effect_argument_errors(bd, sim):
    with _err("The bootstrap resamples rows, but this model was fitted from a correlation matrix; "
              "use se='delta'."):
        bd.effects("X", "Y", n_boot=10)
    with _err("Give both a and a_ref, or neither"):
        bd.effects("X", "Y", a=1)
    with _err("X -> V -> Y is not a directed path of the model from X to Y"):
        bd.path_effects("X", "Y", ["X -> V -> Y"])
    with _err("'V' is not a mediator: it lies on no directed path from X to Y."):
        bd.effects("X", "Y", mediators=["V"])
    with _err("'X' is not a descendant of 'Y'"):
        bd.effects("Y", "X")
    fit = LinearSEM(BD_MODEL, sim).fit()
    with _err("se='bootstrap' needs n_boot >= 2 replicates"):
        fit.effects("X", "Y", se="bootstrap")
    with _err("se must be 'delta' or 'bootstrap', got 'jackknife'."):
        fit.effects("X", "Y", se="jackknife")
    with _err("a and a_ref are both 2: the contrast is empty."):
        fit.effects("X", "Y", a=2, a_ref=2)
