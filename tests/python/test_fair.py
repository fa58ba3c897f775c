"""Fair inference on outcomes (medflow.fairness): constrained fits, fair-world prediction,
the linear box constraint and the refusal of non-identified path-specific effects."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import torch

import medflow as mf

torch.set_num_threads(1)

MODEL = "M ~ C + A; Y ~ C + A + M"


def linear_data(n, seed=0, direct=1.0):
    """C -> A (binary) -> M -> Y with A -> Y; the NDE of A on Y (1 vs 0) is ``direct``."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=n)
    a = (rng.normal(size=n) + 0.5 * c > 0).astype(int)
    m = 0.8 * a + 0.5 * c + rng.normal(size=n)
    y = direct * a + 0.7 * m + 0.4 * c + rng.normal(size=n)
    return pd.DataFrame(dict(C=c, A=a, M=m, Y=y))


@pytest.fixture(scope="module")
def linear_fit():
    df = linear_data(300)
    return df, mf.CausalFlow(MODEL, df).fit(seed=0, epochs=30, verbose=False)


@pytest.fixture(scope="module")
def fair_linear_flow(linear_fit):
    _, fit = linear_fit
    return mf.fair(fit, "A", "Y", paths=["A -> Y"], bounds=(-0.1, 0.1), max_rounds=8, steps=15)


def test_constrained_pse_lies_within_bounds(linear_fit, fair_linear_flow):
    df, fit = linear_fit
    res = fair_linear_flow
    # the unconstrained fit recovers the NDE: the true 1.0, estimated by OLS in this sample ...
    ols = sm.OLS(df["Y"], sm.add_constant(df[["C", "A", "M"]])).fit().params["A"]
    assert res.pse_before == pytest.approx(ols, abs=0.2) and ols == pytest.approx(1.0, abs=0.3)
    # ... and the constrained fit's PSE lies within the bounds
    assert res.satisfied
    sd = df["Y"].std()
    assert -0.1 - 1e-3 * sd <= res.pse_after <= 0.1 + 1e-3 * sd
    # the effects engine on the constrained model agrees (within Monte Carlo error)
    est = res.fit.path_effects("A", "Y", ["A -> Y"]).to_frame().iloc[0]
    assert -0.1 - 3 * est["mc_error"] - 0.01 <= est["estimate"] <= 0.1 + 3 * est["mc_error"] + 0.01
    # moving the NDE from 1 to 0.1 costs likelihood; the unconstrained model is untouched
    assert res.loglik_lost > 5
    assert fit.path_effects("A", "Y", ["A -> Y"]).params.iloc[0] > 0.6
    assert res.constrained_nodes == ("M", "Y") and res.keep == ("C", "A")
    assert "it holds at the solution" in res.summary()


def test_loglik_given_up_is_zero_for_a_satisfied_constraint_and_positive_for_a_binding_one(linear_fit,
                                                                                          fair_linear_flow):
    _, fit = linear_fit
    # the PSE (about 1) already lies within (-5, 5): the constrained and the reference
    # optimisations take the same path, so nothing is given up (tolerance: 1e-6 nats)
    loose = mf.fair(fit, "A", "Y", paths=["A -> Y"], bounds=(-5, 5), max_rounds=4, steps=10)
    assert loose.satisfied and loose.loglik_rows == "held-out"
    assert loose.n_loglik == len(fit.data)              # every row held out by one member
    assert abs(loose.loglik_lost) < 1e-6 and abs(loose.loglik_lost_train) < 1e-6
    assert loose.pse_after == pytest.approx(loose.pse_refit, abs=1e-9)
    # moving the NDE from 1 to within (-0.1, 0.1) costs held-out and training likelihood
    res = fair_linear_flow
    assert res.loglik_rows == "held-out"
    assert res.loglik_lost > 5 and res.loglik_lost_train > 5
    assert "log-likelihood given up" in res.summary() and "held-out rows" in res.summary()


def test_fair_prediction_averages_over_the_mediator(linear_fit, fair_linear_flow):
    df, fit = linear_fit
    new = df.head(6)
    p = fair_linear_flow.predict(new)
    assert p.shape == (6,)
    # E*[Y | C, A] depends on (C, A) only: identical (C, A) give identical predictions
    twin = pd.concat([new.head(1)] * 2).assign(M=[-5.0, 5.0], Y=[0.0, 0.0])
    q = fair_linear_flow.predict(twin)
    assert q[0] == q[1]
    # the unconstrained E[Y | pa(Y)] is close to the true regression
    truth = 1.0 * df["A"] + 0.7 * df["M"] + 0.4 * df["C"]
    p_full = mf.predict(fit, df, "Y")
    assert np.sqrt(np.mean((p_full - truth) ** 2)) < 0.25
    # keep=() averages everything: the mean of Y
    p_none = mf.predict(fit, df.head(2), "Y", keep=[], n_samples=2000)
    assert p_none[0] == pytest.approx(df["Y"].mean(), abs=0.2)


def test_zero_width_bound_on_linear_design_drops_the_edge():
    df = linear_data(500, seed=3)
    res = mf.fair_linear(mf.LinearSEM(MODEL, df), "A", "Y", bounds=(0, 0))
    dropped = sm.OLS(df["Y"], sm.add_constant(df[["C", "M"]])).fit().params
    after = res.coef_after
    assert after["A"] == 0.0
    np.testing.assert_allclose(after[["Intercept", "C", "M"]].to_numpy(),
                               dropped[["const", "C", "M"]].to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.predict(df), sm.OLS(df["Y"], sm.add_constant(df[["C", "M"]]))
                               .fit().fittedvalues.to_numpy(), atol=1e-10)
    assert res.pse_before == pytest.approx(1.0, abs=0.25) and res.loglik_lost > 0
    # a box that holds the OLS coefficient changes nothing; a binding one sits on its edge
    loose = mf.fair_linear(mf.LinearSEM(MODEL, df), "A", "Y", bounds=(-5, 5))
    pd.testing.assert_series_equal(loose.coef_after, loose.coef_before)
    assert loose.loglik_lost == 0.0
    half = mf.fair_linear(mf.LinearSEM(MODEL, df), "A", "Y", bounds=(0.25, 0.5), a=2, a_ref=0)
    assert half.coef_after["A"] == pytest.approx(0.25) and half.pse_after == pytest.approx(0.5)


def test_non_identified_pse_is_refused():
    rng = np.random.default_rng(0)
    n = 120
    x, v = rng.normal(size=n), rng.normal(size=n)
    u = x + v + rng.normal(size=n)
    w = u + x + rng.normal(size=n)
    y = u + x + w + rng.normal(size=n)
    df = pd.DataFrame(dict(V=v, X=x, U=u, W=w, Y=y))
    fit = mf.CausalFlow("U ~ V + X; W ~ U + X; Y ~ U + X + W", df).fit(seed=0, epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"is not identified, so it cannot be constrained: U is a "
                                         r"recanting witness: X -> U -> W -> Y is in the path set "
                                         r"but X -> U -> Y is not\."):
        mf.fair(fit, "X", "Y", paths=["X -> U -> W -> Y", "X -> W -> Y"], bounds=(0, 0))


def test_bad_requests_get_one_clear_error(linear_fit):
    _, fit = linear_fit
    with pytest.raises(ValueError, match="not both and not neither"):
        mf.fair(fit, "A", "Y", paths=["A -> Y"], mediators=["M"], bounds=(0, 0))
    with pytest.raises(ValueError, match=r"lower <= upper, got \(1, 0\)"):
        mf.fair(fit, "A", "Y", paths=["A -> Y"], bounds=(1, 0))
    with pytest.raises(ValueError, match="scale='odds ratio' needs a 0/1 outcome"):
        mf.fair(fit, "A", "Y", paths=["A -> Y"], bounds=(0.9, 1.1), scale="odds ratio")
    with pytest.raises(ValueError, match="On the ratio scale the bounds must be positive"):
        mf.fair(fit, "A", "Y", paths=["A -> Y"], bounds=(0, 1.1), scale="ratio")
    with pytest.raises(ValueError, match="there is no edge C -> Y|not in the graph"):
        mf.fair(fit, "A", "Y", paths=["A -> C -> Y"], bounds=(0, 0))
    with pytest.raises(ValueError, match="keep= may not contain the outcome Y"):
        mf.predict(fit, pd.DataFrame(dict(Y=[1.0])), "Y", keep=["Y"])
    with pytest.raises(ValueError, match="new_data lacks the column"):
        mf.predict(fit, pd.DataFrame(dict(C=[1.0])), "Y")
    with pytest.raises(ValueError, match="sensitive variable 'B' is not a variable"):
        mf.fair_linear(mf.LinearSEM(MODEL, linear_data(100)), "B", "Y")


def test_fitted_flow_delegates(linear_fit):
    df, fit = linear_fit
    np.testing.assert_array_equal(fit.predict(df.head(4), "Y"), mf.predict(fit, df.head(4), "Y"))
    with pytest.raises(ValueError, match="not both and not neither"):
        fit.fair("A", "Y", paths=["A -> Y"], mediators=["M"], bounds=(0, 0))


def test_command_line_fair(tmp_path, capsys):
    from medflow.cli import main

    rng = np.random.default_rng(1)
    n = 200
    race = rng.integers(0, 2, n)
    priors = rng.poisson(1 + race)
    y = (rng.normal(size=n) + 0.5 * race + 0.3 * priors > 1).astype(int)
    csv = tmp_path / "d.csv"
    pd.DataFrame(dict(race=race, priors=priors, y=y)).to_csv(csv, index=False)
    out = tmp_path / "pred.csv"
    args = ["fair", "--csv", str(csv), "--model", "priors ~ race; y ~ race + priors",
            "--sensitive", "race", "--outcome", "y", "--disallow", "race -> y", "--bounds", "0.9",
            "1.1", "--scale", "odds ratio", "--out", str(out), "--no-progress", "--epochs", "2",
            "--max-rounds", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Constraint: 0.9 <= PSE (odds ratio) <= 1.1" in text
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["unconstrained", "fair"] and len(pred) == n
    assert pred.to_numpy().min() >= 0 and pred.to_numpy().max() <= 1
    without = [a for a in args if a not in ("--disallow", "race -> y")]
    assert main(without) == 2
    assert "Give the disallowed paths with --disallow" in capsys.readouterr().err


def test_command_line_fair_without_model_runs_the_issue_example(tmp_path, capsys):
    """The issue's command, with no --model, on a subsample of the bundled COMPAS extract."""
    from medflow.cli import default_fair_model, main

    data = mf.datasets.compas().sample(400, random_state=0)
    csv = tmp_path / "compas.csv"
    data.to_csv(csv, index=False)
    args = ["fair", "--csv", str(csv), "--sensitive", "race", "--outcome", "two_year_recid",
            "--disallow", "race -> two_year_recid", "--bounds", "0.95", "1.05", "--scale", "odds ratio",
            "--no-progress", "--epochs", "2", "--max-rounds", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Graph (no --model given" in text
    assert ("  two_year_recid ~ race + sex + age + priors_count + juv_fel_count + juv_misd_count + "
            "charge_felony + decile_score") in text
    assert "Constraint: 0.95 <= PSE (odds ratio) <= 1.05" in text
    # --baseline makes age and sex correlated roots beside race
    model = default_fair_model(list(data.columns), "race", "two_year_recid", ["age", "sex"])
    assert model.startswith("priors_count ~ race + age + sex; juv_fel_count ~ race + age + sex + "
                            "priors_count;")
    assert model.endswith("; race ~~ age; race ~~ sex; age ~~ sex")
    with pytest.raises(ValueError, match=r"^--baseline names race, zzz, which are not columns"):
        default_fair_model(list(data.columns), "race", "two_year_recid", ["race", "zzz"])
    assert main(args + ["--model", "priors_count ~ race; two_year_recid ~ race + priors_count",
                        "--baseline", "age"]) == 2
    assert "--baseline only applies to the default graph" in capsys.readouterr().err


def test_ensemble_members_are_each_constrained(linear_fit):
    import copy

    from medflow.flow import NodeFlows

    df, fit = linear_fit
    ens = copy.copy(fit)
    ens.flow = NodeFlows.replicate(fit.flow, 2)
    res = mf.fair(ens, "A", "Y", paths=["A -> Y"], bounds=(0.4, 0.6), max_rounds=8, steps=10)
    assert res.E == 2 and res.pse_members.shape == (2,)
    assert res.pse_after == pytest.approx(res.pse_members.mean())
    assert np.all((res.pse_members > 0.4 - 0.01) & (res.pse_members < 0.6 + 0.01))
    assert res.predict(df.head(3)).shape == (3,)
