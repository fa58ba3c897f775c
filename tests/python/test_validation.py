"""The validation study: metrics on hand-made inputs, and a tiny end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config

import medflow as mf
from medflow import validation as val


# ---------------------------------------------------------------------- metrics
def test_bias_rmse_coverage_exact():
    est = [1.0, 2.0, 6.0]
    assert val.bias(est, 2.0) == 1.0                           # mean 3 - 2
    assert val.rmse(est, 2.0) == pytest.approx(math.sqrt((1 + 0 + 16) / 3), rel=1e-15)
    assert val.coverage([0.0, 2.5, 1.0], [3.0, 4.0, 2.0], 2.0) == pytest.approx(2 / 3)
    # bounds are inclusive; missing intervals are left out; none at all -> NaN
    assert val.coverage([2.0, np.nan], [2.0, np.nan], 2.0) == 1.0
    assert math.isnan(val.coverage([np.nan], [np.nan], 0.0))


def _results(rows):
    base = dict(dgp="linear", n=100, seed=0, sd_y=2.0, identified=True, seconds=1.0, level=0.9)
    return pd.DataFrame([{**base, **r} for r in rows])[list(val.RESULT_COLUMNS)]


def test_summarize_on_hand_made_results():
    rows = []
    # flow: estimates 1, 3 (truth 1) with intervals [0, 2] and [0.5, 3.5] (reflected: [2.5, 5.5]);
    # linear: 0, 2, no... intervals
    for rep, (est, lo, hi) in enumerate([(1.0, 0.0, 2.0), (3.0, 0.5, 3.5)]):
        rows.append(dict(rep=rep, method="flow", label="TE", estimate=est, ci_lower=lo, ci_upper=hi,
                         truth=1.0, seconds=2.0 + 2 * rep))
    for rep, est in enumerate([0.0, 2.0]):
        rows.append(dict(rep=rep, method="linear", label="TE", estimate=est, ci_lower=-1.0,
                         ci_upper=3.0, truth=1.0, seconds=2.0 + 2 * rep))
    rows.append(dict(rep=0, method="flow", label="NIE via W", estimate=0.5, ci_lower=np.nan,
                     ci_upper=np.nan, truth=0.25, identified=False, seconds=2.0))
    summary = val.summarize(_results(rows)).set_index(["method", "label"])
    flow = summary.loc[("flow", "TE")]
    assert flow["reps"] == 2
    assert flow["bias_sd"] == 0.5                      # (2 - 1) / sd_y 2
    assert flow["rmse_sd"] == pytest.approx(math.sqrt(2) / 2)   # sqrt((0 + 4) / 2) / 2
    assert flow["coverage"] == 1.0 and flow["coverage_basic"] == 0.5
    assert flow["sd_sd"] == pytest.approx(math.sqrt(2) / 2)     # sd(1, 3) = sqrt(2)
    assert flow["mcse_bias_sd"] == pytest.approx(0.5)
    assert flow["ci_width_sd"] == pytest.approx(1.25)            # mean(2, 3) / 2
    assert flow["coverage_mcse"] == 0.0                          # sqrt(1 * 0 / 2)
    # width 2.5 against the normal width 2 * 1.645 * sd(1, 3) = 4.652
    assert flow["width_ratio"] == pytest.approx(2.5 / (2 * 1.6448536269514722 * math.sqrt(2)), rel=1e-12)
    assert flow["truth_sd"] == 0.5 and flow["seconds"] == 3.0
    lin = summary.loc[("linear", "TE")]
    assert lin["bias_sd"] == 0.0 and lin["rmse_sd"] == 0.5 and lin["coverage"] == 1.0
    assert lin["coverage_basic"] == 1.0                  # reflected: [-3, 1] and [1, 5]
    nie = summary.loc[("flow", "NIE via W")]
    assert nie["bias_sd"] == 0.125 and math.isnan(nie["coverage"]) and not nie["identified"]
    # rows come in the order of LABELS, flow before linear
    assert summary.index.tolist() == [("flow", "TE"), ("linear", "TE"), ("flow", "NIE via W")]
    md = val.to_markdown(summary.reset_index())
    assert "## linear, N = 100 (2 replications, 3.0 s per replication)" in md
    assert "| TE | 0.500 | +0.500 | 0.707 | 1.00 (0.00) | 0.54 | +0.000 | 0.500 | 1.00 (0.00) |" in md
    assert "| NIE via W* | 0.125 | +0.125 | 0.125 | – | – | – | – | – |" in md
    assert "coverage of 90% intervals with its Monte Carlo SE" in md


def test_summary_reports_each_level_with_its_monte_carlo_se():
    rows = []
    # 4 replications, truth 0: the 90 % intervals cover 3 of 4, the 95 % intervals all 4
    for rep, est in enumerate([-1.0, 0.5, 1.0, 2.5]):
        for level, half in ((0.90, 2.0), (0.95, 3.0)):
            rows.append(dict(rep=rep, method="flow", label="TE", level=level, estimate=est,
                             ci_lower=est - half, ci_upper=est + half, truth=0.0))
    summary = val.summarize(_results(rows)).set_index("level")
    assert summary.index.tolist() == [0.90, 0.95]
    assert summary.loc[0.90, "coverage"] == 0.75 and summary.loc[0.95, "coverage"] == 1.0
    assert summary.loc[0.90, "coverage_mcse"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4), rel=1e-12)
    assert summary.loc[0.90, "bias_sd"] == summary.loc[0.95, "bias_sd"] == pytest.approx(0.375)
    md = val.to_markdown(summary.reset_index())
    assert "| flow cover 90% | flow cover 95% | flow width |" in md
    assert "| TE | 0.000 | +0.375 |" in md and "| 0.75 (0.22) | 1.00 (0.00) |" in md


def test_summarize_rejects_incomplete_tables():
    with pytest.raises(ValueError, match="results lack the columns truth"):
        val.summarize(pd.DataFrame({"dgp": ["x"]}).assign(
            **{c: [0] for c in val.RESULT_COLUMNS if c not in ("dgp", "truth")}))


def test_run_study_rejects_bad_input():
    with pytest.raises(ValueError, match="Unknown dgp 'nope'"):
        val.run_study(["nope"], [100], reps=1)
    with pytest.raises(ValueError, match="n_boot must be 0 or at least 2, got 1"):
        val.run_study(["linear"], [100], reps=1, n_boot=1)
    with pytest.raises(ValueError, match=r"levels must be numbers between 0 and 1, got \[0.9, 95\]"):
        val.run_study(["linear"], [100], reps=1, levels=[0.9, 95])


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_study():
    with parallel_config(backend="threading"):
        return val.run_study(["linear", "discrete"], [300], reps=1, epochs=2, n_jobs=2)


def test_tiny_study_rows_and_truths(tiny_study):
    res = tiny_study
    assert list(res.columns) == list(val.RESULT_COLUMNS)
    assert len(res) == 2 * 2 * len(val.LABELS) * 2      # 2 models x 2 methods x 9 effects x 2 levels
    assert sorted(res["level"].unique()) == [0.90, 0.95]
    res = res[res["level"] == 0.95]
    lin = res[(res["dgp"] == "linear") & (res["method"] == "linear")].set_index("label")
    sim = mf.datasets.simulate("linear", 300, seed=int(lin["seed"].iloc[0]))
    truth = sim.truth.set_index("label")
    assert lin.loc["TE", "truth"] == truth.loc["TE", "truth"]
    a, a_ref = truth.loc["TE", "a"], truth.loc["TE", "a_ref"]
    ref = mf.LinearSEM(sim.model, sim.data).fit().effects("X", "Y", mediators=["W", "U"], a=a, a_ref=a_ref)
    assert lin.loc[list(val.LABELS), "estimate"].to_numpy() == pytest.approx(
        ref.params[list(val.LABELS)].to_numpy(), rel=1e-12)
    # the linear SEM's delta-method intervals exist; the flow has none without bootstrap
    assert lin["ci_lower"].notna().all()
    assert res.loc[res["method"] == "flow", "ci_lower"].isna().all()
    flow = res[(res["dgp"] == "linear") & (res["method"] == "flow")].set_index("label")
    assert flow.loc["NDE via W", "estimate"] + flow.loc["NIE via W", "estimate"] == pytest.approx(
        flow.loc["TE", "estimate"], abs=1e-9)
    assert not flow.loc["NDE via W", "identified"] and flow.loc["NDE via U", "identified"]
    # discrete model: binary treatment, contrast 1 vs 0, exact (enumerated) truths
    disc = res[res["dgp"] == "discrete"]
    assert disc["truth"].nunique() > 1 and (disc["sd_y"] > 0).all()


def test_seeds_do_not_depend_on_task_order(tiny_study):
    seeds = tiny_study.drop_duplicates("dgp").set_index("dgp")["seed"]
    assert seeds["linear"] == val._seed(0, "linear", 300, 0)
    assert val._seed(0, "linear", 300, 0) != val._seed(0, "linear", 300, 1)
    assert val._seed(0, "linear", 300, 0) != val._seed(1, "linear", 300, 0)


def test_command_line_writes_the_outputs(tmp_path, capsys):
    code = val.main(["--dgps", "linear", "--n", "200", "--reps", "2", "--boot", "2", "--epochs", "2",
                     "--out", str(tmp_path)])
    assert code == 0
    for name in ("results.csv", "summary.csv", "summary.md", "validation.png"):
        assert (tmp_path / name).is_file(), name
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["method"]) == {"flow", "linear"} and set(summary["reps"]) == {2}
    assert summary["coverage"].between(0, 1).all()   # both methods have intervals now
    assert sorted(summary["level"].unique()) == [0.90, 0.95]
    res = pd.read_csv(tmp_path / "results.csv").set_index(["rep", "method", "label", "level"])
    # one set of refits: the 90 % interval lies inside the 95 % one, same estimate
    lo90, lo95 = res.xs(0.90, level="level"), res.xs(0.95, level="level")
    assert (lo90["estimate"] == lo95["estimate"]).all()
    assert (lo90["ci_lower"] >= lo95["ci_lower"] - 1e-12).all() and (lo90["ci_upper"] <= lo95["ci_upper"] + 1e-12).all()
    out = capsys.readouterr().out
    assert "## linear, N = 200" in out and "s per replication" in out
    assert val.main(["--dgps", "linear", "--n", "10", "--reps", "1"]) == 2
    assert capsys.readouterr().err == "medflow.validation: error: Every N must be at least 50.\n"
