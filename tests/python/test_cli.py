"""The ``medflow`` command line: report folder, printed table, one-line errors."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

import medflow as mf
from medflow import cli
from medflow.analysis import analyse
from medflow.results import EFFECT_COLUMNS

BD = mf.datasets.MODEL
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    mf.datasets.simulate("blau_duncan", 300, seed=1).data.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bd_run(tiny_csv, tmp_path_factory):
    """``medflow blau-duncan --csv tiny.csv --sensitivity`` with 3 epochs: (exit code, out dir, stdout)."""
    out = tmp_path_factory.mktemp("report")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["blau-duncan", "--csv", str(tiny_csv), "--epochs", "3", "--out", str(out),
                         "--no-progress", "--sensitivity"])
    return code, out, buf.getvalue()


def _error(capsys, argv) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    return err


# ---------------------------------------------------------------------- blau-duncan on a CSV
def test_blau_duncan_writes_the_report(bd_run):
    code, out, _ = bd_run
    assert code == 0
    for name in ("effects.csv", "coefficients.csv", "comparison.csv", "training_history.csv",
                 "dose_response.csv", "summary.txt"):
        assert (out / name).is_file(), name
    for name in ("dag.png", "forest.png", "dose_response.png", "training_curves.png", "sensitivity.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert (out / "flow_model" / "model.json").is_file()
    import torch
    weights = torch.load(out / "flow_model" / "weights.pt", weights_only=True)
    assert "__data__" not in weights                      # no microdata unless --save-data
    effects = pd.read_csv(out / "effects.csv")
    assert list(effects.columns) == list(EFFECT_COLUMNS)
    labels = ["TE", "NDE via W", "NIE via W", "rNDE via W", "rNIE via W", "NDE via U", "NIE via U",
              "rNDE via U", "rNIE via U", "PART via U", "PART via W", "PART direct"]
    assert effects.loc[effects["method"] == "flow", "label"].tolist() == labels
    assert effects.loc[effects["method"] == "linear SEM", "label"].tolist() == labels
    comparison = pd.read_csv(out / "comparison.csv")
    # the comparison layout of medflow.compare() (no truth for a CSV of the user's)
    assert comparison.columns.tolist() == list(mf.results.COMPARISON_COLUMNS)
    assert comparison["name"].tolist()[:4] == ["flow", "linear", "flow", "linear"]
    labels = list(dict.fromkeys(comparison["label"]))
    assert labels[:5] == ["TE", "NDE via W", "NIE via W", "NDE via U", "NIE via U"]
    flow_rows = comparison[comparison["name"] == "flow"].set_index("label")
    assert flow_rows.loc[["NDE via W", "NIE via W"], "witness"].tolist() == ["U", "U"]
    assert list(pd.read_csv(out / "dose_response.csv").columns[:5]) == [
        "a", "estimate", "std_error", "ci_lower", "ci_upper"]
    assert list(pd.read_csv(out / "training_history.csv").columns) == ["epoch", "train_nll", "val_nll", "lr",
                                                                        "members"]
    assert len(pd.read_csv(out / "training_history.csv")) <= 3
    # the rho-sensitivity hook: NIE via W for the noise pairs U-Y and W-Y
    sens = pd.read_csv(out / "sensitivity.csv")
    assert set(sens["label"]) == {"NIE via W"} and set(sens["pair"]) == {"U ~~ Y", "W ~~ Y"}
    at_zero = sens[np.isclose(sens["rho"], 0.0)]
    assert len(at_zero) == 2 and np.isfinite(at_zero["estimate"]).all()
    assert list(pd.read_csv(out / "sensitivity_rho_values.csv").columns) == [
        "pair", "label", "rho_value", "rho_value_ci"]


def test_blau_duncan_numbers(bd_run, tiny_csv):
    _, out, stdout = bd_run
    coef = pd.read_csv(out / "coefficients.csv").set_index(["equation", "predictor"])
    # Standardized OLS on the published matrix (docs/design.md §1) and the published values.
    assert coef.loc[("U", "V"), "from_correlations"] == pytest.approx(0.309, abs=5e-4)
    assert coef.loc[("Y", "residual"), "from_correlations"] == pytest.approx(0.753, abs=5e-4)
    assert coef.loc[("U", "X"), "published"] == 0.279
    data = pd.read_csv(tiny_csv)
    sem = mf.LinearSEM(BD, data).fit()
    assert coef.loc[("W", "U"), "from_data"] == pytest.approx(
        sem.params.set_index(["lhs", "rhs"]).loc[("W", "U"), "std_all"], rel=1e-9)
    effects = pd.read_csv(out / "effects.csv")
    lin = effects[effects["method"] == "linear SEM"].set_index("label")
    a, a_ref = np.quantile(data["X"], [0.75, 0.25], method="nearest")
    assert lin["a"].iloc[0] == a and lin["a_ref"].iloc[0] == a_ref
    ref = sem.effects("X", "Y", mediators=["W", "U"], a=a, a_ref=a_ref).params
    assert lin.loc[ref.index, "estimate"].to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-9)
    flow = effects[effects["method"] == "flow"].set_index("label")["estimate"]
    assert flow["NDE via W"] + flow["NIE via W"] == pytest.approx(flow["TE"], abs=1e-6)
    assert flow[["PART via U", "PART via W", "PART direct"]].sum() == pytest.approx(flow["TE"], abs=1e-6)
    # The printed output: published table, side-by-side table with identification labels.
    assert "U <- V               0.310       0.309" in stdout
    assert "NDE via W" in stdout and "no* (U)" in stdout
    assert (out / "summary.txt").read_text().startswith("medflow blau-duncan:")


# ---------------------------------------------------------------------- fit on any data
def test_fit_command_with_bootstrap(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    m = 0.8 * x + rng.normal(size=300)
    y = 0.5 * x + 0.7 * m + rng.normal(size=300)
    path = tmp_path / "med.csv"
    pd.DataFrame({"X": x, "M": m, "Y": y}).to_csv(path, index=False)
    code = cli.main(["fit", "--csv", str(path), "--model", "M ~ X; Y ~ X + M", "--treatment", "X",
                     "--outcome", "Y", "--mediator", "M", "--boot", "3", "--epochs", "2",
                     "--contrast", "1", "0", "--out", str(tmp_path / "rep"), "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    comp = pd.read_csv(tmp_path / "rep" / "comparison.csv")
    assert list(dict.fromkeys(comp["label"])) == ["TE", "NDE via M", "NIE via M", "rNDE via M", "rNIE via M",
                                                  "PART via M", "PART direct"]
    assert comp[["ci_lower", "ci_upper", "std_error"]].notna().all().all()
    assert (comp["ci_lower"] <= comp["ci_upper"]).all()
    effects = pd.read_csv(tmp_path / "rep" / "effects.csv")
    assert set(effects["n_boot"]) == {3}
    assert "95% CI" in stdout
    assert sorted(p.name for p in (tmp_path / "rep").glob("*.png")) == [
        "dag.png", "dose_response.png", "forest.png", "training_curves.png"]
    coef = pd.read_csv(tmp_path / "rep" / "coefficients.csv")
    assert list(coef.columns) == ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]


# ---------------------------------------------------------------------- errors
def test_missing_file_is_one_line(capsys):
    err = _error(capsys, ["fit", "--csv", "no/such.csv", "--model", "Y ~ X", "--treatment", "X",
                          "--outcome", "Y"])
    assert err == "medflow: error: --csv 'no/such.csv': no such file.\n"
    err = _error(capsys, ["blau-duncan", "--ocg", "no/ocg.txt"])
    assert err == "medflow: error: --ocg 'no/ocg.txt': no such file.\n"


def test_bad_column_is_one_line(capsys, tiny_csv):
    err = _error(capsys, ["fit", "--csv", str(tiny_csv), "--model", "Y ~ X + Z", "--treatment", "X",
                          "--outcome", "Y"])
    assert err == (f"medflow: error: The model variable(s) Z are not columns of '{tiny_csv}' "
                   "(columns: V, X, U, W, Y).\n")
    bad = tiny_csv.parent / "bad.csv"
    pd.read_csv(tiny_csv).drop(columns="W").to_csv(bad, index=False)
    err = _error(capsys, ["blau-duncan", "--csv", str(bad)])
    assert err == f"medflow: error: The model variable(s) W are not columns of '{bad}' (columns: V, X, U, Y).\n"


def test_bad_arguments_are_one_line(capsys, tiny_csv):
    base = ["fit", "--csv", str(tiny_csv), "--model", BD, "--outcome", "Y"]
    assert _error(capsys, base + ["--treatment", "Q"]) == (
        "medflow: error: --treatment Q is not a variable of the model (variables: V, X, U, W, Y).\n")
    assert _error(capsys, base + ["--treatment", "X", "--mediator", "V"]) == (
        "medflow: error: --mediator V is not on a directed path from X to Y.\n")
    lo, hi = pd.read_csv(tiny_csv)["X"].agg(["min", "max"])
    assert _error(capsys, base + ["--treatment", "X", "--contrast", "500", "10"]) == (
        f"medflow: error: --contrast A = 500 is outside the observed range of X [{lo:g}, {hi:g}].\n")
    assert _error(capsys, base + ["--treatment", "X", "--boot", "1"]) == (
        "medflow: error: --boot must be 0 (no bootstrap) or at least 2, got 1.\n")
    assert _error(capsys, ["fit", "--csv", str(tiny_csv), "--model", "Y ~", "--treatment", "X",
                           "--outcome", "Y"]).startswith("medflow: error: ")


def test_default_interval_level_is_95_percent():
    import importlib
    import inspect

    import medflow as mf
    from medflow import analysis, distributional, effects, estimands
    sensitivity = importlib.import_module("medflow.sensitivity")  # (mf.sensitivity is the function)
    assert estimands.LEVEL == 0.95
    # one source: every query that takes level= defaults to estimands.LEVEL
    queries = [mf.LinearSEMResults.effects, mf.LinearSEMResults.path_effects, mf.LinearSEMResults.decompose,
               mf.LinearSEMResults.cde, effects._run, effects.dose_response, sensitivity.sensitivity,
               distributional.distributional_effects, distributional.linear_distributional_effects,
               analysis.analyse, analysis.distributional_section]
    for fn in queries:
        assert inspect.signature(fn).parameters["level"].default is estimands.LEVEL, fn.__qualname__
    args = cli.build_parser().parse_args(["fit", "--csv", "x.csv", "--model", "Y ~ X", "--treatment", "X",
                                          "--outcome", "Y"])
    assert args.level == 0.95
    args = cli.build_parser().parse_args(["fit", "--csv", "x.csv", "--model", "Y ~ X", "--treatment", "X",
                                          "--outcome", "Y", "--level", "0.9"])
    assert args.level == 0.9


def test_argparse_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        cli.main(["blau-duncan", "--csv", "a.csv", "--ocg", "b.txt"])
    assert info.value.code == 2


# ---------------------------------------------------------------------- real data: --data gss
@pytest.fixture(scope="module")
def gss_run(tmp_path_factory):
    """``medflow blau-duncan --data gss --boot 4 --epochs 3``: (exit code, out dir, stdout)."""
    out = tmp_path_factory.mktemp("gss")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["blau-duncan", "--data", "gss", "--boot", "4", "--epochs", "3", "--out", str(out),
                         "--no-progress"])
    return code, out, buf.getvalue()


GSS_LABELS = ["TE", "NDE via U", "NIE via U", "rNDE via U", "rNIE via U"]


def test_gss_run_writes_the_report_without_truth(gss_run):
    code, out, stdout = gss_run
    assert code == 0
    for name in ("effects.csv", "coefficients.csv", "comparison.csv", "training_history.csv",
                 "dose_response.csv", "summary.txt"):
        assert (out / name).is_file(), name
    for name in ("dag.png", "forest.png", "dose_response.png", "training_curves.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert (out / "flow_model" / "model.json").is_file()
    effects = pd.read_csv(out / "effects.csv")
    assert list(effects.columns) == list(EFFECT_COLUMNS)
    for method in ("flow", "linear SEM"):
        rows = effects[effects["method"] == method]
        assert rows["label"].tolist() == GSS_LABELS
        assert set(rows["n_boot"]) == {4}
        assert rows[["ci_lower", "ci_upper"]].notna().all().all()
        assert (rows["ci_lower"] <= rows["ci_upper"]).all()
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(dict.fromkeys(comparison["label"])) == GSS_LABELS
    assert comparison.columns.tolist() == list(mf.results.COMPARISON_COLUMNS)   # no truth, no error_sd
    assert comparison["identified"].all()
    assert len(pd.read_csv(out / "training_history.csv")) <= 3
    assert "95% CI" in stdout
    for absent in ("error (SD(Y))", "truth: the effect", "Largest |error|"):   # no truth columns
        assert absent not in stdout
    assert (out / "summary.txt").read_text().startswith("medflow blau-duncan --data gss:")
    # the linearity check: printed with the fit and written to the report
    lin = pd.read_csv(out / "linearity.csv")
    assert lin["node"].tolist() == ["X", "U", "Y"]
    assert set(lin["equation"]) <= {"flow", "linear"}
    assert (lin["equation"] == "flow").tolist() == lin["departs"].tolist()
    assert "Linearity check: held-out log-likelihood per row, flow vs linear-Gaussian" in stdout


def test_gss_run_numbers(gss_run):
    _, out, stdout = gss_run
    gss = mf.datasets.gss_status_attainment()
    # Classical coefficients: standardized OLS from the data's correlations, by hand.
    r = gss[["V", "X", "U", "Y"]].corr()
    coef = pd.read_csv(out / "coefficients.csv").set_index(["equation", "predictor"])
    assert list(coef.columns) == ["from_correlations", "from_data"]
    for child, parents in (("U", ["V", "X"]), ("Y", ["U", "X"])):
        beta = np.linalg.solve(r.loc[parents, parents], r.loc[parents, child])
        for p, b in zip(parents, beta):
            assert coef.loc[(child, p), "from_correlations"] == pytest.approx(b, rel=1e-9)
            assert coef.loc[(child, p), "from_data"] == pytest.approx(b, rel=1e-9)
        resid = np.sqrt(1 - r.loc[parents, child].to_numpy() @ beta)
        assert coef.loc[(child, "residual"), "from_correlations"] == pytest.approx(resid, rel=1e-9)
    assert "U <- V             0.471" in stdout and "Y <- U             0.554" in stdout
    assert "X  0.576  1.000  0.379  0.328" in stdout          # the data's correlation matrix
    # Path tracing per 1 SD of X: TE = b_XU b_UY + b_XY, via U = b_XU b_UY.
    b = coef["from_correlations"]
    via_u, direct = b[("U", "X")] * b[("Y", "U")], b[("Y", "X")]
    assert (f"Path tracing per 1 SD of X: total effect {via_u + direct:.3f}; via U {via_u:.3f}, "
            f"not via U {direct:.3f}.") in stdout
    # The linear SEM's effects at the default contrast (75th vs 25th percentile of X).
    effects = pd.read_csv(out / "effects.csv")
    lin = effects[effects["method"] == "linear SEM"].set_index("label")
    a, a_ref = np.quantile(gss["X"], [0.75, 0.25], method="nearest")
    assert (lin["a"].iloc[0], lin["a_ref"].iloc[0]) == (a, a_ref)
    sem = mf.LinearSEM(mf.datasets.GSS_MODEL, gss[["V", "X", "U", "Y"]]).fit()
    ref = sem.effects("X", "Y", mediators=["U"], a=a, a_ref=a_ref).params
    assert lin.loc[ref.index, "estimate"].to_numpy() == pytest.approx(ref.to_numpy(), rel=1e-9)
    flow = effects[effects["method"] == "flow"].set_index("label")["estimate"]
    assert flow["NDE via U"] + flow["NIE via U"] == pytest.approx(flow["TE"], abs=1e-6)
    # the honest note: the first-job question needs OCG
    assert "cannot be answered from these data; it needs OCG 1962 (--ocg FILE)" in stdout


def test_gss_default_bootstrap_and_exclusive_sources():
    parse = cli.build_parser().parse_args
    assert cli._with_defaults(parse(["blau-duncan", "--data", "gss"])).boot == cli.GSS_BOOT == 40
    assert cli._with_defaults(parse(["blau-duncan", "--data", "gss", "--boot", "0"])).boot == 0
    assert cli._with_defaults(parse(["blau-duncan"])).boot == 0
    assert cli._with_defaults(parse(["blau-duncan", "--data", "synthetic"])).boot == 0
    for argv in (["blau-duncan", "--data", "gss", "--csv", "a.csv"], ["blau-duncan", "--data", "ocg"]):
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2


# ---------------------------------------------------------------------- bundled-data truths
def test_truths_and_errors_for_the_bundled_data():
    truth = cli._truth_for(True, 33.0, 11.0)
    shipped = mf.datasets.blau_duncan_truth().set_index("label")
    t = truth.set_index("label")
    assert t.loc["TE", "truth_sd"] == shipped.loc["TE", "sample_truth_sd"]
    assert cli._truth_for(False, 33.0, 11.0) is None
    # another contrast: the sample truths of the same units under the known model
    other = cli._truth_for(True, 40.0, 20.0).set_index("label")
    assert other.loc["TE", "a"] == 40.0 and other.loc["TE", "truth"] > 0
    data = mf.datasets.blau_duncan_synthetic()
    sem = mf.LinearSEM(BD, data).fit()
    lin = sem.effects("X", "Y", mediators=["W", "U"], a=33, a_ref=11)
    table = cli.comparison_table(lin, lin, truth, mediators=["W", "U"])
    expected = lin.table.set_index("label").loc["TE", "estimate_sd"] - shipped.loc["TE", "sample_truth_sd"]
    assert table.set_index(["label", "name"]).loc[("TE", "linear"), "error_sd"] == pytest.approx(expected, abs=1e-12)
    text = cli.format_comparison(table)
    assert "error (SD(Y))" in text and "truth" in text


def test_command_line_fits_with_the_librarys_settings(monkeypatch):
    # the command line passes only what the user gave (--epochs, --seed); the rest is the library's
    seen = {}
    real = mf.CausalFlow.fit

    def spy(self, **kwargs):
        seen.update(kwargs)
        return real(self, **kwargs)
    monkeypatch.setattr(mf.CausalFlow, "fit", spy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    data = pd.DataFrame({"X": x, "M": x + rng.normal(size=200), "Y": x + rng.normal(size=200)})
    data["Y"] += data["M"]
    analyse(data, "M ~ X; Y ~ X + M", "X", "Y", ["M"], epochs=2, seed=4, progress=False)
    assert seen == {"seed": 4, "verbose": False, "epochs": 2}


# ---------------------------------------------------------------------- --distributional
def test_blau_duncan_distributional_section(tiny_csv, tmp_path):
    out = tmp_path / "report"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["blau-duncan", "--csv", str(tiny_csv), "--epochs", "3", "--out", str(out),
                         "--no-progress", "--distributional"])
    text = buf.getvalue()
    assert code == 0
    assert "Distributional effects and mobility tables (flow vs linear SEM)" in text
    assert "q=0.1  q=0.25  q=0.5  q=0.75  q=0.9" in text
    x25 = np.quantile(pd.read_csv(tiny_csv)["X"], 0.25, method="inverted_cdf")
    assert f"Counterfactual (U at its value under X = {x25:g}), % of each origin bin:" in text
    dist = pd.read_csv(out / "distributional_effects.csv")
    assert list(dist.columns) == list(EFFECT_COLUMNS)
    assert set(dist["method"]) == {"flow", "linear SEM"}
    assert sorted(dist["quantile"].unique()) == [0.1, 0.25, 0.5, 0.75, 0.9]
    assert len(dist) == 2 * 9 * 5  # two methods, nine effects (W and U), five quantiles
    mob = pd.read_csv(out / "mobility_tables.csv")
    assert list(mob.columns) == ["world", "origin_bin", "destination_bin", "probability", "method"]
    sums = mob.groupby(["method", "world", "origin_bin"])["probability"].sum()
    assert len(sums) == 2 * 2 * 5 and np.allclose(sums, 1.0)
    ind = pd.read_csv(out / "mobility_indices.csv")
    assert set(ind["index"]) == {"immobility", "shorrocks", "rank_correlation"}
    for name in ("quantile_effects.png", "mobility.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    assert cli.build_parser().parse_args(["blau-duncan"]).distributional is False


def test_comparison_shows_intervals_only_when_the_flow_has_them():
    # without a bootstrap the flow has no intervals: no CI columns (and no "[., .]" cells),
    # although the linear SEM has delta-method intervals; with one, both methods show them
    data = mf.datasets.blau_duncan_synthetic().iloc[:3000]
    sem = mf.LinearSEM(BD, data).fit()
    lin = sem.effects("X", "Y", mediators=["W"], a=33, a_ref=11)
    no_ci = lin.to_frame().assign(ci_lower=np.nan, ci_upper=np.nan, ci_lower_sd=np.nan, ci_upper_sd=np.nan,
                                  method="flow")
    flow = mf.results.EffectsResult(no_ci)
    text = cli.format_comparison(cli.comparison_table(flow, lin, mediators=["W"]), level=0.95)
    assert "CI" not in text and "[" not in text
    text = cli.format_comparison(cli.comparison_table(lin, lin, mediators=["W"]), level=0.95)
    assert text.count("95% CI") == 2 and "[., .]" not in text
