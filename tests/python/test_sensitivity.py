"""Tests of medflow.sensitivity (ρ-GNF): recovery of a hidden-confounder truth, the copula
pieces against scipy, the training hook, the result object and every input rule.

Validation SCM (linear-Gaussian, truth analytic): a hidden H confounds U and Y,

    X ~ N(0, 1);  U = 0.5 X + c H + s e_U;  W = 0.4 U + 0.3 X + e_W;
    Y = 0.4 U + 0.2 X + 0.3 W + c H + s e_Y,        c**2 = 0.3, s**2 = 0.7,

so the standardized noises of U and Y (c H + s e) have correlation rho0 = c**2 / (c**2 + s**2)
= 0.3. Fitted without H (rho = 0) the flow absorbs the confounding into U -> Y: the effects
through U are biased; at rho = rho0 the copula model is the true model.
"""

from __future__ import annotations

import math
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import medflow as mf
from medflow.flow import NodeFlows
from medflow.results import EFFECT_COLUMNS, EffectsResult
from medflow.copula import _Copula, copula_linear_part, noise_correlation
from medflow.sensitivity import SENSITIVITY_COLUMNS, SensitivityResult, sensitivity
from medflow.training import TrainSettings, fit_linear_part, train

matplotlib.use("Agg")

C2, S2 = 0.3, 0.7
RHO0 = C2 / (C2 + S2)
B = dict(xu=0.5, uw=0.4, xw=0.3, uy=0.4, xy=0.2, wy=0.3)
MODEL = "U ~ X; W ~ U + X; Y ~ U + X + W"
VARS = ["X", "U", "W", "Y"]
MASK = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]])


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, h = rng.normal(size=n), rng.normal(size=n)
    u = B["xu"] * x + math.sqrt(C2) * h + math.sqrt(S2) * rng.normal(size=n)
    w = B["uw"] * u + B["xw"] * x + rng.normal(size=n)
    y = B["uy"] * u + B["xy"] * x + B["wy"] * w + math.sqrt(C2) * h + math.sqrt(S2) * rng.normal(size=n)
    return pd.DataFrame({"X": x, "U": u, "W": w, "Y": y})


def path_effects(b: dict) -> dict[str, float]:
    """Effects of X = 1 vs 0 by path tracing in a linear SEM with coefficients ``b``."""
    te = b["xy"] + b["xu"] * b["uy"] + b["xw"] * b["wy"] + b["xu"] * b["uw"] * b["wy"]
    nie_u = b["xu"] * (b["uy"] + b["uw"] * b["wy"])
    nie_w = (b["xw"] + b["xu"] * b["uw"]) * b["wy"]
    return {"TE": te, "NIE via U": nie_u, "NDE via U": te - nie_u, "NIE via W": nie_w, "NDE via W": te - nie_w}


TRUTH = path_effects(B)
# The rho = 0 limit: the regression of Y absorbs E[noise_Y | noise_U] = RHO0 * noise_U, i.e.
# U -> Y gains RHO0 and X -> Y loses RHO0 * 0.5 (W's coefficient is unaffected).
NAIVE = path_effects({**B, "uy": B["uy"] + RHO0, "xy": B["xy"] - RHO0 * B["xu"]})


def coefficients(frame: pd.DataFrame, rho: float) -> dict:
    """The linear SEM consistent with noise correlation rho (oracle for the flow's curve)."""
    cov = np.cov(frame[VARS].to_numpy(), rowvar=False, bias=True)
    w, _ = copula_linear_part(cov, MASK, np.zeros(4), noise_correlation(VARS, [("U", "Y")], rho))
    return dict(xu=w[1, 0], uw=w[2, 1], xw=w[2, 0], uy=w[3, 1], xy=w[3, 0], wy=w[3, 2])


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def validation():
    data = simulate(5000, seed=3)
    fit = mf.CausalFlow(MODEL, data).fit(epochs=40, lr=1e-3, patience=3, seed=0, verbose=False)
    res = sensitivity(fit, pairs=[("U", "Y")], rho=[0.0, RHO0], treatment="X", outcome="Y",
                      mediators=["U", "W"], a=1.0, a_ref=0.0, epochs=20, patience=3, verbose=False)
    return data, fit, res


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    m = 0.8 * x + rng.normal(size=n)
    y = 0.5 * m + 0.5 * x + rng.normal(size=n)
    v = rng.normal(size=n)  # an unrelated root: a pre-treatment variable
    data = pd.DataFrame({"V": v, "X": x, "M": m, "Y": y})
    return mf.CausalFlow("X ~ V; M ~ X; Y ~ X + M", data).fit(epochs=3, seed=0, verbose=False)


# ----------------------------------------------------------------------------- validation
def test_recovers_the_true_effects_at_rho0_and_shows_the_naive_bias(validation):
    data, _, res = validation
    sd_y = data["Y"].std()
    t = res.table
    assert list(t.columns) == list(SENSITIVITY_COLUMNS)
    assert sorted(set(t["rho"])) == [0.0, RHO0]
    at = {r: t[t["rho"] == r].set_index("label")["estimate_sd"] for r in (0.0, RHO0)}
    for label, truth in TRUTH.items():
        # at the true noise correlation the curve recovers the truth ...
        assert abs(at[RHO0][label] - truth / sd_y) < 0.03, label
        # ... and at rho = 0 it estimates the no-confounding limit, biased for the U effects
        assert abs(at[0.0][label] - NAIVE[label] / sd_y) < 0.03, label
    bias_nie_u = (NAIVE["NIE via U"] - TRUTH["NIE via U"]) / sd_y
    assert bias_nie_u > 0.09
    assert at[0.0]["NIE via U"] - TRUTH["NIE via U"] / sd_y > 0.07
    # the total effect and the effects via W are not confounded by H: flat in rho
    for label in ("TE", "NIE via W", "NDE via W"):
        assert abs(at[RHO0][label] - at[0.0][label]) < 0.01, label


def test_curve_matches_the_linear_oracle_on_the_same_data(validation):
    data, _, res = validation
    sd_y = data["Y"].std()
    for rho in (0.0, RHO0):
        oracle = path_effects(coefficients(data, rho))
        est = res.table[res.table["rho"] == rho].set_index("label")["estimate"]
        for label, value in oracle.items():
            assert abs(est[label] - value) / sd_y < 0.02, (rho, label)


def test_rho_values_and_result_api(validation):
    _, _, res = validation
    rv = res.rho_values()
    assert list(rv.columns) == ["pair", "label", "rho_value", "rho_value_ci"]
    assert set(rv["pair"]) == {"U ~~ Y"} and len(rv) == 5
    assert rv["rho_value_ci"].isna().all()           # no bootstrap, no interval crossings
    one = res.at(RHO0)
    assert isinstance(one, EffectsResult)
    assert list(one.table.columns) == list(EFFECT_COLUMNS)
    assert one.params.index.tolist() == ["TE", "NDE via U", "NIE via U", "NDE via W", "NIE via W"]
    text = res.summary()
    assert "pair U ~~ Y:" in text and "+0.30" in text and "crosses zero" in text
    fig = res.plot()
    assert len(fig.axes) == 5
    assert res.fit_info["members"] == 2 * 5   # two rho values, each refitted from the fit's 5 members


# ----------------------------------------------------------------------------- pieces
def test_copula_linear_part_is_ols_at_identity_and_structural_at_rho0():
    data = simulate(5000, seed=1)
    x = torch.tensor(data[VARS].to_numpy())
    w_ols, b_ols, s_ols = fit_linear_part(x, x, torch.as_tensor(MASK, dtype=x.dtype), torch.zeros(4))
    cov = np.cov(data[VARS].to_numpy(), rowvar=False, bias=True)
    w, s = copula_linear_part(cov, MASK, np.zeros(4), np.eye(4))
    np.testing.assert_allclose(w, w_ols.numpy(), atol=1e-10)
    np.testing.assert_allclose(s, s_ols.numpy(), atol=1e-10)
    # dequantization adds step**2 / 12 to each residual variance, as in fit_linear_part
    step = np.array([0.0, 0.5, 0.0, 0.0])
    _, s_step = copula_linear_part(cov, MASK, step, np.eye(4))
    _, _, s_ref = fit_linear_part(x, x + 0.5 * torch.as_tensor(step), torch.as_tensor(MASK, dtype=x.dtype),
                                  torch.as_tensor(step))
    np.testing.assert_allclose(s_step, s_ref.numpy(), atol=1e-10)
    # on a large sample the copula MLE at rho0 recovers the structural coefficients
    big = simulate(400_000, seed=2)
    b = coefficients(big, RHO0)
    for k, v in B.items():
        assert abs(b[k] - v) < 0.01, k
    b0 = coefficients(big, 0.0)
    assert abs(b0["uy"] - (B["uy"] + RHO0)) < 0.01


def test_copula_log_prob_and_sampling_against_scipy():
    sigma = np.stack([noise_correlation(VARS, [("U", "Y"), ("X", "W")], r) for r in (-0.5, 0.2)])
    cop = _Copula(sigma)
    eps = torch.randn(2, 7, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = cop.log_prob(eps).numpy()
    for e in range(2):
        ref = stats.multivariate_normal(np.zeros(4), sigma[e]).logpdf(eps[e].numpy())
        np.testing.assert_allclose(got[e], ref, rtol=1e-10)
    draws = cop.sample(200_000, torch.Generator().manual_seed(2), torch.float64).numpy()
    for e in range(2):
        np.testing.assert_allclose(np.cov(draws[e], rowvar=False), sigma[e], atol=0.01)


def test_conditional_fresh_noise_has_the_conditional_law():
    # nodes 0..2; eps0 is kept (conditioned on), 1 and 2 are redrawn
    sigma = np.array([[1.0, 0.0, 0.6], [0.0, 1.0, -0.3], [0.6, -0.3, 1.0]])[None]
    cop = _Copula(sigma)
    gen = torch.Generator().manual_seed(3)
    kept = torch.randn(1, 100_000, 3, generator=gen, dtype=torch.float64)
    z = torch.randn(1, 100_000, 3, generator=gen, dtype=torch.float64)
    out = cop.conditional(kept, [1, 2], z)[0].numpy()
    mirror = cop.conditional(kept, [1, 2], -z)[0].numpy()   # antithetic: mirrored about the mean
    np.testing.assert_allclose((out[:, 2] + mirror[:, 2]) / 2, 0.6 * kept[0, :, 0].numpy(), atol=1e-12)
    np.testing.assert_allclose((out[:, 1] + mirror[:, 1]) / 2, 0.0, atol=1e-12)
    e0 = kept[0, :, 0].numpy()
    slope = np.polyfit(e0, out[:, 2], 1)[0]
    assert abs(slope - 0.6) < 0.01                        # E[eps2 | eps0] = 0.6 eps0
    resid = out[:, 2] - 0.6 * e0
    cond = np.cov(np.column_stack([out[:, 1], resid]), rowvar=False)
    np.testing.assert_allclose(cond, [[1.0, -0.3], [-0.3, 1 - 0.36]], atol=0.015)


def test_abduction_of_a_discrete_node_is_the_truncated_conditional():
    # identity flow: T(v) = v; node 1 is discrete with interval [v, v + 1)
    flow = NodeFlows(torch.zeros(2, 2, dtype=torch.float64), ensemble=1, dtype=torch.float64)

    class Fake:
        disc_step = torch.tensor([0.0, 1.0], dtype=torch.float64)

        def _interval(self, flow, x, eps):   # no observed bounds nearby: no tails
            hi, _ = flow(x + self.disc_step, x)
            return eps.double(), hi.double()

    rho, n = 0.7, 20_000
    cop = _Copula(np.array([[[1.0, rho], [rho, 1.0]]]))
    x = torch.zeros(1, n, 2, dtype=torch.float64)
    x[..., 0] = 1.5                                        # observed continuous noise
    x[..., 1] = -0.5                                       # interval [-0.5, 0.5)
    eps = cop.abduct(Fake(), flow, x, torch.Generator().manual_seed(4))
    e1 = eps[0, :, 1].numpy()
    assert (eps[0, :, 0] == 1.5).all()
    assert e1.min() >= -0.5 and e1.max() < 0.5
    mu, sd = rho * 1.5, math.sqrt(1 - rho**2)
    ref = stats.truncnorm((-0.5 - mu) / sd, (0.5 - mu) / sd, loc=mu, scale=sd)
    assert abs(e1.mean() - ref.mean()) < 0.005
    assert stats.kstest(e1, ref.cdf).pvalue > 0.001


def test_training_hook_with_independent_normals_equals_the_default():
    mask = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.normal(size=(200, 2)), dtype=torch.float32)
    std = lambda eps: torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum(-1)  # noqa: E731
    runs = []
    for hook in (None, std):
        flow = NodeFlows(mask, ensemble=2, generator=torch.Generator().manual_seed(0))
        hist = train(flow, x, torch.zeros(2), np.arange(150), np.arange(150, 200),
                     TrainSettings(epochs=2, batch_size=64), torch.Generator().manual_seed(1),
                     verbose=False, noise_log_prob=hook)
        runs.append((hist, flow))
    np.testing.assert_allclose(runs[0][0]["val_nll"], runs[1][0]["val_nll"], rtol=1e-5)
    for p, q in zip(runs[0][1].parameters(), runs[1][1].parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- behaviour
def test_treatment_pairs_and_direct_edges_are_allowed(small):
    # X -> Y is a direct edge and involves the treatment: hidden X-Y confounding. Positive
    # correlation explains part of the X-Y association, so the total effect falls with rho.
    res = sensitivity(small, pairs=[("X", "Y"), "M ~~ Y", ("V", "X")], rho=[-0.3, 0.0, 0.3],
                      treatment="X", outcome="Y", mediators="M", epochs=0, verbose=False)
    assert res.pairs == ["X ~~ Y", "M ~~ Y", "V ~~ X"]
    te = res.table[(res.table["pair"] == "X ~~ Y") & (res.table["label"] == "TE")]["estimate"].to_numpy()
    assert te[0] > te[1] > te[2]
    # pre-treatment pair: the effects do not move
    pre = res.table[res.table["pair"] == "V ~~ X"].pivot(index="label", columns="rho", values="estimate")
    np.testing.assert_allclose(pre.max(axis=1) - pre.min(axis=1), 0.0, atol=1e-4)
    # W-Y style pair (mediator-outcome): the indirect effect moves, the total effect does not
    mo = res.table[res.table["pair"] == "M ~~ Y"].pivot(index="label", columns="rho", values="estimate")
    assert mo.loc["NIE via M", -0.3] > mo.loc["NIE via M", 0.3] + 0.05
    moved = mo.loc["NIE via M", -0.3] - mo.loc["NIE via M", 0.3]
    assert abs(mo.loc["TE", -0.3] - mo.loc["TE", 0.3]) < 0.1 * moved


def test_default_grid_and_warm_start_only(small):
    res = sensitivity(small, "M ~~ Y", treatment="X", outcome="Y", epochs=0, verbose=False)
    assert res.table["rho"].unique().tolist() == [-0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4]
    # mediators=None: every variable on a path, as in effects() (it gave the TE only before)
    assert res.labels == ["TE", "NDE via M", "NIE via M"]
    # 9 rho values, each refitted from every one of the fit's members
    K = small.flow.E
    assert res.fit_info["members"] == 9 * K and res.fit_info["kept_warm_start"] == 9 * K
    # at rho = 0 the warm start is the fit itself: the effects of fit.effects()
    ref = small.effects("X", "Y", interventional=False).params
    np.testing.assert_allclose(res.at(0.0).params.to_numpy(), ref.to_numpy(), atol=1e-6)
    # rows at rho != 0 rest on the assumed rho: not identified, the rho named in the assumption
    t = res.table
    zero = t["rho"] == 0
    assert t.loc[zero, "identified"].all() and (t.loc[zero, "assumption"] == "").all()
    assert not t.loc[~zero, "identified"].any()
    row = t[(t["rho"] == 0.3) & (t["label"] == "NIE via M")].iloc[0]
    assert row["assumption"].startswith("the noises of M ~~ Y have correlation rho = 0.3 (Gaussian copula")
    assert "identified = False" in res.summary()


def test_bootstrap_intervals_n_mc_interventional_and_reproducibility(small):
    kw = dict(pairs=[[("M", "Y"), ("X", "M")]], rho=[0.0, 0.2], treatment="X", outcome="Y",
              mediators=["M"], estimands=["TE", "rNIE"], verbose=False)
    res = sensitivity(small, n_boot=2, seed=5, epochs=1, **kw)
    assert res.pairs == ["M ~~ Y + X ~~ M"]
    assert res.table["label"].tolist() == ["TE", "rNIE via M"] * 2
    t = res.table
    assert t["ci_lower"].notna().all() and (t["ci_lower"] <= t["ci_upper"]).all()
    assert (t["n_boot"] == 2).all() and (t["level"] == 0.95).all()
    # per rho: the fit's members and 2 replicates of 2 members each (below 5,000 rows)
    assert res.fit_info["members"] == 2 * (small.flow.E + 2 * 2)
    again = sensitivity(small, n_boot=2, seed=5, epochs=1, **kw)
    pd.testing.assert_frame_equal(res.table, again.table)
    mc = sensitivity(small, n_mc=500, epochs=0, **kw)
    assert (mc.table["n"] == 500).all()
    chunked = sensitivity(small, chunks=2, epochs=0, **kw)
    assert chunked.fit_info["chunks"] == 2 and len(chunked.table) == 4


# ----------------------------------------------------------------------------- bootstrap replicates
# Issue 14, item 5: a replicate runs the point estimate's procedure on its resample (the fit's
# procedure from scratch, then the copula refit from that), never starting from the fitted model.
BOOT = dict(pairs=[("M", "Y")], rho=[0.0, 0.3], treatment="X", outcome="Y", mediators=["M"],
            estimands=["TE", "NDE", "NIE"], epochs=3, patience=3, verbose=False)


def _fresh(fit):
    """Forget the fit's cached bootstrap refits, so the next call refits its replicates."""
    fit.__dict__.pop("_bootstrap_cache", None)
    return fit


@pytest.fixture(scope="module")
def boot_run(small):
    return sensitivity(_fresh(small), n_boot=8, seed=3, **BOOT)


def test_bootstrap_at_rho0_has_the_spread_of_the_effects_bootstrap(small):
    B = 30
    eff = small.effects("X", "Y", mediators=["M"], interventional=False, n_boot=B, seed=11, verbose=False)
    res = sensitivity(_fresh(small), n_boot=B, seed=11, **BOOT)   # its own refits, not effects()'s
    reps = res.fit_info["replicates"]
    at0 = reps[reps["rho"] == 0].pivot(index="replicate", columns="label", values="estimate")
    assert at0.index.tolist() == list(range(1, B + 1))
    # the same procedure with the same seed: the effects bootstrap's replicates, one by one
    # (continuous data, natural effects: no Monte Carlo draws), hence the same standard errors
    np.testing.assert_allclose(at0[eff.draws.columns].to_numpy(), eff.draws.to_numpy(), rtol=0, atol=1e-5)
    t = res.table.set_index(["rho", "label"])
    ref = eff.table.set_index("label")
    for lab in ref.index:
        assert t.loc[(0.0, lab), "std_error"] == pytest.approx(ref.loc[lab, "std_error"], abs=1e-5), lab
    # independent resamples and training (another seed): the same spread within Monte Carlo
    # error. A bootstrap SD from B replicates has relative SE 1 / sqrt(2 (B - 1)), the log of a
    # ratio of two independent ones SE 1 / sqrt(B - 1) (0.19 at B = 30): within 3 SEs.
    other = sensitivity(small, n_boot=B, seed=12, **BOOT).table.set_index(["rho", "label"])
    for lab in ref.index:
        ratio = other.loc[(0.0, lab), "std_error"] / ref.loc[lab, "std_error"]
        assert abs(math.log(ratio)) < 3 / math.sqrt(B - 1), (lab, ratio)


def test_bootstrap_replicates_never_start_from_the_fitted_model(small, boot_run):
    import copy

    reps = boot_run.fit_info["replicates"]
    assert len(reps) == 2 * 3 * 8 and reps["estimate"].notna().all()
    # no replicate is the point estimate (a replicate that kept a warm start from the fitted
    # model's members stayed next to it)
    point = boot_run.table[["pair", "rho", "label", "estimate"]]
    both = reps.merge(point, on=["pair", "rho", "label"], suffixes=("", "_point"))
    assert len(both) == len(reps)
    assert ((both["estimate"] - both["estimate_point"]).abs() > 1e-6).all()
    # the replicates do not depend on the fitted model at all: move its weights, and the point
    # estimates move while every replicate stays where it was
    moved = _fresh(copy.deepcopy(small))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in moved.flow.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    res = sensitivity(moved, n_boot=8, seed=3, **BOOT)
    # (a contrast can sit where the perturbation happens to cancel, so not every row need move)
    assert (res.table["estimate"] - boot_run.table["estimate"]).abs().mean() > 1e-2
    pd.testing.assert_frame_equal(res.fit_info["replicates"], reps, check_exact=False, atol=1e-5, rtol=0)


def test_bootstrap_replicates_are_reproducible(small, boot_run):
    again = sensitivity(_fresh(small), n_boot=8, seed=3, **BOOT)   # refitted from scratch
    pd.testing.assert_frame_equal(again.fit_info["replicates"], boot_run.fit_info["replicates"],
                                  check_exact=True)
    pd.testing.assert_frame_equal(again.table, boot_run.table, check_exact=True)
    other = sensitivity(small, n_boot=8, seed=4, **BOOT).fit_info["replicates"]
    assert (other["estimate"] - boot_run.fit_info["replicates"]["estimate"]).abs().min() > 1e-6
    assert boot_run.fit_info["bootstrap_seconds"] > 0
    assert "the fit's procedure on resample b from scratch" in boot_run.summary()


def test_rho_values_interpolate_on_the_grid():
    rows = []
    for r, est, lo, hi in [(-0.4, -0.2, -0.3, -0.1), (-0.2, -0.1, -0.2, 0.05), (0.0, 0.1, 0.0, 0.2),
                           (0.2, 0.3, 0.1, 0.5)]:
        base = dict.fromkeys(EFFECT_COLUMNS, np.nan)
        base.update(label="TE", estimand="TE", estimate=est, ci_lower=lo, ci_upper=hi, treatment="X",
                    outcome="Y", a=1.0, a_ref=0.0, estimate_sd=est, ci_lower_sd=lo, ci_upper_sd=hi,
                    identified=True, method="flow")
        rows.append({"pair": "U ~~ Y", "rho": r, **base})
    flat = {**rows[0], "label": "NIE", "estimate": 0.5}
    res = SensitivityResult(pd.DataFrame(rows + [{**flat, "rho": r} for r in (-0.4, -0.2, 0.0, 0.2)]))
    rv = res.rho_values().set_index("label")
    assert rv.loc["TE", "rho_value"] == pytest.approx(-0.1)        # -0.1 -> 0.1 between -0.2 and 0
    assert rv.loc["TE", "rho_value_ci"] == pytest.approx(0.0)       # ci_lower touches 0 at rho = 0
    assert math.isnan(rv.loc["NIE", "rho_value"])
    with pytest.raises(ValueError, match=re.escape("rho = 0.1 is not on the grid (-0.4, -0.2, 0, 0.2).")):
        res.at(0.1)
    with pytest.raises(ValueError, match=re.escape("A sensitivity table needs the columns ['pair']")):
        SensitivityResult(pd.DataFrame(rows).drop(columns="pair"))


# ----------------------------------------------------------------------------- bad input
BAD = [
    (dict(rho=[0.2, 1.0]), "Every rho must lie strictly between -1 and 1 (a correlation of +-1 makes "
                           "the noise covariance singular); got 1."),
    (dict(rho=[-1.5, np.nan]), "Every rho must lie strictly between -1 and 1 (a correlation of +-1 makes "
                               "the noise covariance singular); got -1.5, nan."),
    (dict(rho=[]), "rho must be a non-empty 1-D sequence of correlations, e.g. np.linspace(-0.4, 0.4, 9)."),
    (dict(rho=[0.1, 0.1]), "rho has duplicate values: 0.1."),
    (dict(pairs=[("M", "Z")]), "The pair M ~~ Z names 'Z', which is not a variable of the model; its "
                               "variables are V, X, M, Y."),
    (dict(pairs=[("M", "M")]), "The pair M ~~ M pairs a variable with itself; a pair needs two different "
                               "variables."),
    (dict(pairs=[[("M", "Y"), ("Y", "M")]]), "The pair M ~~ Y is listed twice in one set of pairs."),
    (dict(pairs=[("M", "Y"), "Y ~~ M"]), "The set of pairs M ~~ Y is given twice in pairs=."),
    (dict(pairs=[]), "pairs must list at least one pair of variables whose noises are correlated, e.g. "
                     "pairs=[('U', 'Y')] or pairs=['U ~~ Y']."),
    (dict(pairs=[("M", "Y", "X")]), "Each element of pairs must be a pair of variable names such as "
                                    "('U', 'Y') or 'U ~~ Y', or a list of such pairs correlated jointly; "
                                    "got ('M', 'Y', 'X')."),
    (dict(pairs=[[("M", "Y"), ("X", "Y"), ("X", "M")]], rho=[-0.6, 0.0]),
     "With rho = -0.6 the noise correlations of M ~~ Y + X ~~ Y + X ~~ M do not form a positive-definite "
     "matrix; narrow the rho grid or correlate fewer pairs jointly."),
    (dict(estimands=["NIE via W"]), "Unknown estimand(s) 'NIE via W'; with these mediators choose among "
                                    "the codes TE, NDE, NIE, rNDE, rNIE or the labels TE, NDE via M, "
                                    "NIE via M, rNDE via M, rNIE via M."),
    (dict(n_boot=1), "n_boot must be 0 or an integer of at least 2, got 1."),
    (dict(epochs=-1), "epochs must be a non-negative integer, got -1."),
    (dict(n_mc=0), "n_mc must be a positive integer, got 0."),
    (dict(chunks=21), "chunks must be between 1 and the number of refits (20), got 21."),
    (dict(boot_options={"members": 2}), "boot_options may set 'chunks' and 'n_jobs' (how the bootstrap "
                                        "replicates' refits are split and run), not 'members'."),
    (dict(n_boot=2, boot_options={"chunks": 3}), "boot_options['chunks'] must be a whole number between 1 "
                                                 "and n_boot (2), got 3."),
]


@pytest.mark.parametrize("kwargs, message", BAD)
def test_bad_input_gives_one_clear_error(small, kwargs, message):
    args = dict(pairs=[("M", "Y")], rho=[0.0, 0.2], treatment="X", outcome="Y", mediators=["M"],
                epochs=0, verbose=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(message)):
        sensitivity(small, **args)


def test_bad_query_is_checked_before_any_refit(small):
    with pytest.raises(ValueError, match=re.escape("The treatment 'Q' is not a variable of the model")):
        sensitivity(small, pairs=[("M", "Y")], treatment="Q", outcome="Y")
    with pytest.raises(ValueError, match=re.escape("Several pair sets were analysed; choose one with pair= "
                                                   "(M ~~ Y, X ~~ Y).")):
        sensitivity(small, pairs=[("M", "Y"), ("X", "Y")], rho=[0.0], treatment="X", outcome="Y",
                    epochs=0, verbose=False).at(0.0)


def test_exported_at_the_top_level():
    assert "sensitivity" in mf.__all__ and "SensitivityResult" in mf.__all__


def test_refit_reuses_the_fits_first_fold(validation):
    from medflow.sensitivity import _fit_split

    _, fit, _ = validation
    x = fit._to_tensor(fit.data.to_numpy())
    train_idx, val_idx = _fit_split(fit, len(x), torch.Generator())
    folds = np.asarray(fit.fit_info["folds_of_rows"])
    assert np.array_equal(val_idx, np.flatnonzero(folds == 0))
    assert np.array_equal(train_idx, np.flatnonzero(folds != 0))
    assert len(val_idx) == fit.fit_info["fold_sizes"][0]


# ----------------------------------------------------------------------------- discrete nodes
@pytest.fixture(scope="module")
def discrete():
    sim = mf.datasets.simulate("blau_duncan", 800, 4)
    fit = mf.CausalFlow(sim.model, sim.data).fit(seed=0, verbose=False)
    return sim, fit


def test_copula_abduction_has_the_fits_tails(discrete):
    # at rho = 0 the copula's abduction is the fit's: same law, same draws for the same seed
    # (without the tails, rows at the lowest/highest observed value got the wrong interval)
    from medflow.copula import _Copula

    _, fit = discrete
    flow = fit._require_fitted()
    x = fit._rows(fit.data).unsqueeze(0)
    cop = _Copula(np.eye(len(fit.variables))[None])
    got = cop.abduct(fit, flow, x, torch.Generator().manual_seed(9))
    ref = fit._abduct(x, flow, torch.Generator().manual_seed(9))
    torch.testing.assert_close(got, ref)
    top = x[0, :, fit.variables.index("Y")] == x[0, :, fit.variables.index("Y")].max()
    upper, _ = flow(x + fit.disc_step, x)
    assert top.any() and (got[0, top, -1] >= upper[0, top, -1]).any()   # beyond T(k_max + 1)


def test_copula_interval_likelihood_at_identity_is_the_fits(discrete):
    from medflow.copula import _Copula, _CopulaLikelihood
    from medflow.training import _nll

    _, fit = discrete
    flow = fit._require_fitted()
    x = fit._rows(fit.data).unsqueeze(0)
    lik = _CopulaLikelihood(_Copula(np.eye(len(fit.variables))[None]), fit.disc_step > 0)
    with torch.no_grad():
        got = _nll(flow, x, torch.zeros_like(x), fit.disc_step, lik, fit._bounds())
        ref = _nll(flow, x, torch.zeros_like(x), fit.disc_step, None, fit._bounds())
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert fit.encoding.is_discrete.all()   # every node on its interval mass: no Jacobian term
    mixture = torch.logsumexp(-got.double(), 0) - math.log(got.shape[0])   # the members' mixture
    np.testing.assert_allclose(mixture.numpy(), fit.log_prob(fit.data), rtol=1e-4)


@pytest.mark.parametrize("disc", [(False, True), (True, True)])
def test_copula_interval_likelihood_against_scipy(disc):
    # identity flow T(v) = v: a continuous node has density phi, a discrete node the interval
    # [v, v + 1); correlated pair rho
    from medflow.copula import _Copula, _CopulaLikelihood

    rho = 0.45
    flow = NodeFlows(torch.zeros(2, 2, dtype=torch.float64), ensemble=1, dtype=torch.float64)
    step = torch.tensor([1.0 if d else 0.0 for d in disc], dtype=torch.float64)
    lik = _CopulaLikelihood(_Copula(np.array([[[1.0, rho], [rho, 1.0]]])), step > 0)
    assert lik.supported
    pts = torch.tensor([[[0.3, -0.6], [-1.2, 0.9], [2.0, -3.0]]], dtype=torch.float64)
    bounds = (torch.full((2,), -10.0, dtype=torch.float64), torch.full((2,), 10.0, dtype=torch.float64))
    with torch.no_grad():
        got = -lik.interval_nll(flow, pts, step, bounds)[0].numpy()
    mv = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])
    for k, (v0, v1) in enumerate(pts[0].numpy()):
        if disc[0]:   # P(v0 <= e0 < v0 + 1, v1 <= e1 < v1 + 1)
            ref = (mv.cdf([v0 + 1, v1 + 1]) - mv.cdf([v0, v1 + 1]) - mv.cdf([v0 + 1, v1]) + mv.cdf([v0, v1]))
        else:         # phi(v0) * P(v1 <= e1 < v1 + 1 | e0 = v0)
            s = math.sqrt(1 - rho**2)
            ref = stats.norm.pdf(v0) * (stats.norm.cdf((v1 + 1 - rho * v0) / s)
                                        - stats.norm.cdf((v1 - rho * v0) / s))
        assert got[k] == pytest.approx(math.log(ref), abs=2e-4), k


def test_rho0_refit_on_discrete_data_reproduces_the_fit(discrete):
    # the refits train on the fit's interval likelihood, and the rho = 0 member on the full
    # data is the fitted model itself (fine-tuning it moved rNIE by 1.5 times its MC error
    # bound): fit.effects() within Monte Carlo error
    sim, fit = discrete
    res = sensitivity(fit, pairs=[("W", "Y")], rho=[0.0, 0.2], treatment="X", outcome="Y", mediators=["W"],
                      estimands=["TE", "NIE", "rNIE"], epochs=5, seed=1, verbose=False)
    assert res.fit_info["interval_likelihood"]
    assert "exact interval mass, as in the fit" in res.summary()
    at0 = res.at(0.0).table.set_index("label")
    ref = fit.effects("X", "Y", mediators=["W"], seed=1, verbose=False).table.set_index("label")
    for lab in at0.index:
        tol = 3 * math.hypot(at0.loc[lab, "mc_error"], ref.loc[lab, "mc_error"])
        assert abs(at0.loc[lab, "estimate"] - ref.loc[lab, "estimate"]) <= tol, lab


def test_three_jointly_correlated_discrete_nodes_fall_back_to_dequantization(discrete):
    # U ~~ Y and W ~~ Y jointly: U, W and Y (all discrete) are linked; bivariate masses do not
    # cover that, so those refits use the dequantized likelihood and the notes say so
    from medflow.copula import _Copula, _CopulaLikelihood
    from medflow.sensitivity import _likelihood

    _, fit = discrete
    sigma = noise_correlation(list(fit.variables), [("U", "Y"), ("W", "Y")], 0.2)[None]
    lik = _CopulaLikelihood(_Copula(sigma), fit.disc_step > 0)
    assert not lik.supported
    assert _likelihood(fit, _Copula(sigma))[1] is None
    one = noise_correlation(list(fit.variables), [("W", "Y")], 0.2)[None]
    assert _likelihood(fit, _Copula(one))[1] is not None
    res = sensitivity(fit, pairs=[[("U", "Y"), ("W", "Y")]], rho=[0.0, 0.2], treatment="X", outcome="Y",
                      mediators=["W"], estimands=["TE"], epochs=0, verbose=False)
    assert not res.fit_info["interval_likelihood"]
    assert "those refits use the dequantized likelihood" in res.summary()
