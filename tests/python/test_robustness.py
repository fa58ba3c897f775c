"""Robustness (issue 16): codings, bad queries, saved-model integrity and privacy.

Flow fits here are tiny (N <= 500, a few epochs): they check behaviour, not accuracy.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

import medflow as mf
from medflow.model import load


def binary_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = (x + rng.normal(size=n) > 0).astype(float)
    y = (0.5 * x + m + rng.normal(size=n) > 0.5).astype(float)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


def fit_of(data, model="M ~ X; Y ~ X + M", epochs=3, **kw):
    return mf.CausalFlow(model, data, **kw).fit(seed=0, verbose=False, epochs=epochs)


# ------------------------------------------------------------------ codings
def test_effects_are_invariant_to_affine_recoding_of_binary_variables():
    df = binary_data()
    base = fit_of(df)
    recoded = df.assign(M=df["M"] - 0.5, Y=(df["Y"] - df["Y"].mean()) / df["Y"].std())
    other = fit_of(recoded)
    assert base.encoding.discrete == other.encoding.discrete == ("M", "Y")
    opts = dict(mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
    e0 = base.effects("X", "Y", **opts).params
    e1 = other.effects("X", "Y", **opts).params
    assert np.allclose(e1 * df["Y"].std(), e0, atol=2e-3)
    # counterfactual mediators stay on the data's two values
    cf = other.counterfactual(recoded.head(50), do={"X": 1.0})
    assert set(np.unique(cf["M"])) <= {-0.5, 0.5}
    assert set(np.round(np.unique(cf["Y"]), 12)) <= set(np.round(np.unique(recoded["Y"]), 12))
    with pytest.raises(ValueError, match=r"^M is discrete and takes the grid -0.5 \+ k \* 1: do= "
                                         r"cannot set it to 0\.$"):
        other.sample(5, do={"M": 0.0})


# ------------------------------------------------------------------ queries
def mediation_data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 3, n).astype(float)
    x = v + rng.normal(size=n)
    m = x + rng.normal(size=n)
    y = m + 0.5 * x + rng.normal(size=n)
    return pd.DataFrame({"V": v, "X": x, "M": m, "Y": y})


@pytest.fixture(scope="module")
def small_fit():
    return fit_of(mediation_data(), "X ~ V; M ~ X + V; Y ~ X + M + V", epochs=2)


@pytest.mark.parametrize("call, message", [
    (lambda f: f.decompose("X", "Y", order=["M", "M"]),
     r"^order= names M more than once; each mediator may appear once"),
    (lambda f: f.effects("X", "Y", n_mc=0), r"^n_mc must be a whole number of at least 1, got 0\."),
    (lambda f: f.effects("X", "Y", n_mc=-5), r"^n_mc must be a whole number of at least 1, got -5\."),
    (lambda f: f.effects("X", "Y", data=f.data.iloc[:0]), r"^data= has no rows"),
    (lambda f: f.effects("X", "Y", a=float("inf"), a_ref=0.0, extrapolate=True),
     r"^a must be a finite number, got inf\."),
    (lambda f: f.effects("X", "Y", a=1.0, a_ref=float("nan")), r"^a_ref must be a finite number"),
    (lambda f: f.path_effects("X", "Y", paths=[]),
     r"^paths= must name at least one directed path from X to Y, e\.g\. paths=\['X -> M -> Y'\]\."),
    (lambda f: f.effects("X", "Y", at={"V": 1e6}), r"^at= is no longer supported"),
    (lambda f: f.counterfactual(f.data.head(), do={"X": 1e9}),
     r"^do= sets X = 1e\+09, outside its observed range .*; pass extrapolate=True"),
    (lambda f: f.effects("X", "Y", estimand="ATE"),
     r"^effects\(\) has no option estimand; its options are a, a_ref, n_boot"),
    (lambda f: f.effects("X", "Y", where="Z > 1"), r"^where='Z > 1' could not be evaluated on the data"),
    (lambda f: f.effects("X", "Y", by="M"), r"^by= may only name pre-treatment variables"),
    (lambda f: f.effects("X", "Y", seed=None), r"^seed must be a whole number of at least 0, got None"),
    (lambda f: f.dose_response("X", "Y", grid=[]),
     r"^grid= must be a non-empty list of treatment values"),
])
def test_bad_queries_give_one_clear_error(small_fit, call, message):
    with pytest.raises(ValueError, match=message):
        call(small_fit)


def test_by_refuses_many_strata_and_where_series_is_aligned(small_fit):
    data = small_fit.data.assign(C=np.arange(len(small_fit.data)) % 30)
    fit = fit_of(data[["V", "X", "M", "Y"]].assign(V=data["C"]), "X ~ V; M ~ X + V; Y ~ X + M + V",
                 epochs=1)
    with pytest.raises(ValueError, match=r"^by='V' has 30 distinct values; by= estimates effects "
                                         r"within each value and allows at most 20\."):
        fit.effects("X", "Y", by="V")
    # a boolean Series is aligned on the data's index, not read in row order
    sel = small_fit.data["V"] == 2
    shuffled = sel.sample(frac=1.0, random_state=0)
    opts = dict(mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
    e1 = small_fit.effects("X", "Y", where=sel, **opts).params
    e2 = small_fit.effects("X", "Y", where=shuffled, **opts).params
    e3 = small_fit.effects("X", "Y", where="V == 2", **opts).params
    pd.testing.assert_series_equal(e1, e2)
    pd.testing.assert_series_equal(e1, e3)
    with pytest.raises(ValueError, match=r"^where= is a pandas Series whose index does not match"):
        small_fit.effects("X", "Y", where=sel.reset_index(drop=True).rename(lambda i: i + 1000))


def test_where_and_by_count_the_selected_units_for_flow_and_linear_sem(small_fit):
    model = "X ~ V; M ~ X + V; Y ~ X + M + V"
    sem = mf.LinearSEM(model, mediation_data()).fit()
    counts = small_fit.data["V"].value_counts().sort_index()
    opts = dict(mediators=["M"], a=1.0, a_ref=0.0)
    for res in (small_fit, sem):
        by = res.effects("X", "Y", by="V", **opts).table
        assert list(by["label"].str.split(" [|] ").str[1].unique()) == ["V=0", "V=1", "V=2"]
        assert by.groupby(by["label"].str.split(" [|] ").str[1])["n"].first().tolist() == counts.tolist()
        sel = res.effects("X", "Y", where="V >= 1", **opts).table
        assert (sel["n"] == counts.loc[1:].sum()).all()
        both = res.effects("X", "Y", where="V >= 1", by="V", **opts).table
        assert sorted(both["n"].unique()) == sorted(counts.loc[1:].tolist())
    dist = small_fit.distributional_effects("X", "Y", where="V >= 1", quantiles=[0.5], **opts).table
    assert (dist["n"] == counts.loc[1:].sum()).all()
    # the linear SEM gives every unit the same effects: strata change n, not the estimates
    whole = sem.effects("X", "Y", **opts).table.set_index("label")["estimate"]
    strata = sem.effects("X", "Y", by="V", n_boot=20, seed=1, **opts)
    for value in ("0", "1", "2"):
        block = strata.table[strata.table["label"].str.endswith(f" | V={value}")]
        np.testing.assert_allclose(block["estimate"].to_numpy(), whole.to_numpy())
    assert strata.draws.shape == (20, 3 * len(whole))
    assert "the selected units change the count (n), not the estimates" in "\n".join(strata.notes)


@pytest.mark.parametrize("kwargs, message", [
    (dict(where="Z > 1"), r"^where='Z > 1' could not be evaluated on the data \(UndefinedVariableError"),
    (dict(where="V > 99"), r"^where= selects no units\.$"),
    (dict(where=[True, False]), r"^where= must select among the 300 units"),
    (dict(by="M"), r"^by= may only name pre-treatment variables \(not X or its descendants\): M\.$"),
    (dict(by="Q"), r"^by= must name a variable of the model \(V, X, M, Y\), got 'Q'\.$"),
])
def test_flow_and_linear_sem_refuse_the_same_unit_selections(small_fit, kwargs, message):
    sem = mf.LinearSEM("X ~ V; M ~ X + V; Y ~ X + M + V", mediation_data()).fit()
    for res in (small_fit, sem):
        with pytest.raises(ValueError, match=message):
            res.effects("X", "Y", mediators=["M"], **kwargs)


def test_flow_and_linear_sem_check_interventional_alike(small_fit):
    sem = mf.LinearSEM("X ~ V; M ~ X + V; Y ~ X + M + V", mediation_data()).fit()
    for res in (small_fit, sem):
        with pytest.raises(ValueError, match=r"^interventional must be True or False, got 'yes'\.$"):
            res.effects("X", "Y", interventional="yes")


def test_linear_sem_from_moments_refuses_unit_selections():
    df = mediation_data()
    sem = mf.LinearSEM.from_moments("X ~ V; M ~ X + V; Y ~ X + M + V", df.corr(), n=len(df)).fit()
    with pytest.raises(ValueError, match=r"^where= and by= select observed units, but this model was "
                                         r"fitted from a correlation matrix; fit it to the data"):
        sem.effects("X", "Y", by="V")


def test_sample_accepts_seed_none(small_fit):
    assert small_fit.sample(7, seed=None).shape == (7, 4)


# ------------------------------------------------------------------ saved models
def test_saved_model_holds_no_data_unless_asked(small_fit, tmp_path):
    path = small_fit.save(tmp_path / "m")
    state = torch.load(path / "weights.pt", weights_only=True)
    assert "__data__" not in state
    meta = json.loads((path / "model.json").read_text())
    assert meta["format_version"] == 3 and meta["includes_data"] is False
    assert meta["ensemble"] == small_fit.flow.E
    back = load(path)
    assert back.data is None and "data not stored" in repr(back)
    rows = small_fit.data
    opts = dict(mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
    pd.testing.assert_frame_equal(back.effects("X", "Y", data=rows, **opts).to_frame(),
                                  small_fit.effects("X", "Y", **opts).to_frame())
    with pytest.raises(ValueError, match=r"^This model was saved without its data \(save\(include_data="
                                         r"False\)\), so it has no rows for the units to average over: "
                                         r"pass the rows as data="):
        back.effects("X", "Y", **opts)
    with pytest.raises(ValueError, match=r"saved without its data .* no rows for the bootstrap"):
        back.effects("X", "Y", data=rows, n_boot=2, **opts)
    full = load(small_fit.save(tmp_path / "full", include_data=True))
    pd.testing.assert_frame_equal(full.data, small_fit.data.reset_index(drop=True))


def test_ensembles_and_nested_fit_info_round_trip(small_fit, tmp_path):
    from medflow.flow import NodeFlows
    from medflow.model import FittedFlow
    two = FittedFlow(small_fit.dag, small_fit.encoding, small_fit.config)
    two.flow = NodeFlows.replicate(small_fit.flow, 2)
    with torch.no_grad():
        two.flow.b_out[1] += 0.01
    two.data = small_fit.data
    two.fit_info = dict(seed=0, members=[dict(best_epoch=np.int64(3), val=np.float32(1.5))],
                        split=dict(val_index=np.arange(5)), converged=np.bool_(True))
    back = load(two.save(tmp_path / "two"))
    assert back.flow.E == 2
    for name, p in two.flow.state_dict().items():
        assert torch.equal(p, back.flow.state_dict()[name]), name
    assert back.fit_info == dict(seed=0, members=[dict(best_epoch=3, val=1.5)],
                                 split=dict(val_index=[0, 1, 2, 3, 4]), converged=True)


def _edit_json(path, change):
    meta = json.loads((path / "model.json").read_text())
    change(meta)
    (path / "model.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "weights.pt").write_bytes((p / "weights.pt").read_bytes()[:100]),
     r"weights\.pt does not match the checksum recorded in model\.json"),
    (lambda p: (p / "model.json").write_text("{ not json"), r"model\.json is damaged: it is not valid JSON"),
    (lambda p: _edit_json(p, lambda m: m["encoding"].update(scale=[2 * s for s in m["encoding"]["scale"]])),
     r"model\.json does not match its checksum: the model description was edited"),
    (lambda p: _edit_json(p, lambda m: m.update(model="Y ~ X + M + V; M ~ X + V; X ~ V")),
     r"model\.json does not match its checksum"),
    (lambda p: _edit_json(p, lambda m: m.pop("history")), r"model\.json does not match its checksum"),
    (lambda p: _edit_json(p, lambda m: m.update(format_version=4, versions={"medflow": "9.9.9"})),
     r"model\.json has format version 4 \(written by medflow 9\.9\.9\); this medflow .* reads format "
     r"versions up to 3\. Update medflow to load it\."),
    (lambda p: _edit_json(p, lambda m: (m.pop("format_version"), m.update(format="medflow-flow/1"))),
     r"model\.json was written by an older medflow .* refit the model and save it again"),
    (lambda p: (p / "weights.pt").unlink(), r"is not a saved medflow model"),
])
def test_damaged_or_edited_models_are_refused_naming_the_file(small_fit, tmp_path, damage, message):
    path = small_fit.save(tmp_path / "m")
    damage(path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load(path)


def test_nan_weights_are_refused(small_fit, tmp_path):
    from medflow.model import FittedFlow
    bad = FittedFlow(small_fit.dag, small_fit.encoding, small_fit.config)
    bad.flow = small_fit.flow.members(slice(0, 1))
    with torch.no_grad():
        bad.flow.b_out.fill_(float("nan"))
    bad.data = small_fit.data
    path = bad.save(tmp_path / "nan")
    with pytest.raises(ValueError, match=r"weights\.pt holds non-finite weights \(NaN or infinity\)"):
        load(path)


def test_save_to_a_file_path_writes_nothing(small_fit, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match=r"it is a file, not a folder"):
        small_fit.save(target)
    assert target.read_text() == "x"


# ------------------------------------------------------------------ linear SEM
def test_linear_sem_is_invariant_to_offsets_and_units():
    df = mediation_data(n=400)
    model = "X ~ V; M ~ X + V; Y ~ X + M + V"
    base = mf.LinearSEM(model, df).fit()
    e0 = base.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0).table
    for offset in (3e7, 1e8, 1e9):
        shifted = df + offset
        res = mf.LinearSEM(model, shifted).fit()
        e1 = res.effects("X", "Y", mediators=["M"], a=1.0 + offset, a_ref=offset).table
        assert np.allclose(e1["estimate"], e0["estimate"], rtol=1e-6, atol=1e-7), offset
        assert np.allclose(e1["std_error"], e0["std_error"], rtol=1e-6), offset
        assert np.allclose(res.rsquared, base.rsquared, atol=1e-9), offset
    # a mediator in cents beside a binary treatment: no false singularity, same effect in cents
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, 500).astype(float)
    dollars = 20000 + 5000 * t + rng.normal(0, 20000, 500)
    y = 0.001 * dollars + t + rng.normal(size=500)
    d = pd.DataFrame({"T": t, "M": dollars, "Y": y})
    te_dollars = mf.LinearSEM("M ~ T; Y ~ T + M", d).fit().effects("T", "Y").params["TE"]
    cents = d.assign(M=np.round(d["M"] * 100))
    te_cents = mf.LinearSEM("M ~ T; Y ~ T + M", cents).fit().effects("T", "Y").params["TE"]
    assert te_cents == pytest.approx(te_dollars, rel=1e-6)


def test_linear_sem_refuses_what_the_flow_refuses():
    df = mediation_data()
    model = "X ~ V; M ~ X + V; Y ~ X + M + V"
    res = mf.LinearSEM(model, df).fit()
    with pytest.raises(ValueError, match=r"^a_ref must be a finite number, got nan\."):
        res.effects("X", "Y", a=1.0, a_ref=float("nan"))
    with pytest.raises(ValueError, match=r"^order= names M more than once"):
        res.decompose("X", "Y", order=["M", "M"])
    with pytest.raises(ValueError, match=r"^paths= must name at least one directed path from X to Y"):
        res.path_effects("X", "Y", paths=[])
    with pytest.raises(ValueError, match=r"^The data have more than one column named M"):
        mf.LinearSEM(model, pd.concat([df, df[["M"]]], axis=1))
    with pytest.raises(ValueError, match=r"^The data have no rows\."):
        mf.LinearSEM(model, df.iloc[:0])
    with pytest.raises(ValueError, match=r"^'X ~~ V' repeats 'V ~~ X'"):
        mf.LinearSEM("Y ~ X + V; V ~~ X; X ~~ V", df)
    from medflow.data import ExtremeValueWarning
    with pytest.warns(ExtremeValueWarning, match=r"^The variable Y has 3 extreme value"):
        mf.LinearSEM(model, df.assign(Y=np.where(np.arange(len(df)) < 3, 1e6, df["Y"])))


# ------------------------------------------------------------------ command line
@pytest.mark.parametrize("make_out, message", [
    (lambda tmp: (tmp / "f.txt").write_text("x") and tmp / "f.txt",
     r"^medflow: error: --out '.*f\.txt' is an existing file; give a folder for the report\.$"),
    (lambda tmp: (tmp / "g.txt").write_text("x") and tmp / "g.txt" / "report",
     r"^medflow: error: --out '.*report' cannot be created: '.*g\.txt' is a file, not a folder\.$"),
])
def test_command_line_checks_out_before_any_work(tmp_path, capsys, make_out, message):
    from medflow import cli
    csv = tmp_path / "d.csv"
    mediation_data().to_csv(csv, index=False)
    out = make_out(tmp_path)
    code = cli.main(["fit", "--csv", str(csv), "--model", "M ~ X; Y ~ X + M", "--treatment", "X",
                     "--outcome", "Y", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").match(message, err.strip())


def test_command_line_checks_inputs(tmp_path, capsys):
    from medflow import cli
    empty = tmp_path / "header.csv"
    empty.write_text("X,M,Y\n")
    code = cli.main(["fit", "--csv", str(tmp_path / "none.csv"), "--model", "M ~ X; Y ~ X + M",
                     "--treatment", "X", "--outcome", "Y", "--out", str(tmp_path / "r")])
    assert code == 2 and "--csv '" in capsys.readouterr().err
    code = cli.main(["fit", "--csv", str(empty), "--model", "M ~ X; Y ~ X + M",
                     "--treatment", "X", "--outcome", "Y", "--out", str(tmp_path / "r")])
    assert code == 2
    assert capsys.readouterr().err.strip().endswith("header.csv' has a header but no data rows.")


def test_result_scale_must_be_raw_or_sd():
    res = mf.LinearSEM("M ~ X; Y ~ X + M", mediation_data()).fit().effects("X", "Y")
    for call in (lambda: res.summary(scale="bogus"), lambda: res.conf_int(scale="bogus")):
        with pytest.raises(ValueError, match=r"^scale must be 'raw' \(outcome units\) or 'sd' \(SD of "
                                             r"the outcome\), got 'bogus'\.$"):
            call()


def test_device_names_are_checked():
    from medflow.model import _device
    with pytest.raises(ValueError, match=r"^device must be 'cpu' or 'cuda', got 'gpu'\.$"):
        _device("gpu")


def test_command_line_path_checks_create_nothing(tmp_path, monkeypatch, capsys):
    from medflow import cli
    monkeypatch.chdir(tmp_path)
    code = cli.main(["fit", "--csv", "absent.csv", "--model", "Y ~ X", "--treatment", "X",
                     "--outcome", "Y"])
    assert code == 2 and list(tmp_path.iterdir()) == []
    assert capsys.readouterr().err == "medflow: error: --csv 'absent.csv': no such file.\n"


def test_model_from_a_newer_medflow_warns(small_fit, tmp_path, monkeypatch):
    monkeypatch.setattr(mf, "__version__", "9.9.9")
    path = small_fit.save(tmp_path / "new")
    monkeypatch.undo()
    with pytest.warns(UserWarning, match=r"model\.json was written by medflow 9\.9\.9, newer than "
                                         r"this medflow"):
        load(path)


def test_sensitivity_needs_the_data(small_fit, tmp_path):
    back = load(small_fit.save(tmp_path / "m"))
    with pytest.raises(ValueError, match=r"^sensitivity\(\) refits the model on its data, and this "
                                         r"model was saved without them"):
        mf.sensitivity(back, pairs=[("M", "Y")], treatment="X", outcome="Y", mediators=["M"])


def test_command_line_refuses_an_unwritable_out(tmp_path, monkeypatch, capsys):
    import os

    from medflow import cli
    csv = tmp_path / "d.csv"
    mediation_data().to_csv(csv, index=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real(p, mode))
    code = cli.main(["fit", "--csv", str(csv), "--model", "M ~ X; Y ~ X + M", "--treatment", "X",
                     "--outcome", "Y", "--out", str(locked / "report")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"medflow: error: --out '{locked / 'report'}' cannot be written (its parent "
                   f"'{locked}' is not writable); give a folder you can write to.\n")
    assert list(locked.iterdir()) == []


def test_sample_and_counterfactual_pool_ensemble_members(small_fit):
    from medflow.flow import NodeFlows
    from medflow.model import FittedFlow
    data = binary_data()
    one = fit_of(data, epochs=1)
    two = FittedFlow(one.dag, one.encoding, one.config)
    two.flow = NodeFlows.replicate(one.flow, 2)
    with torch.no_grad():
        two.flow.bias[1] += 0.3
    two.data = one.data
    members = []
    for k in range(2):
        m = FittedFlow(one.dag, one.encoding, one.config)
        m.flow = two.flow.member(k)
        members.append(m)
    rows = data.head(40)
    cf = two.counterfactual(rows, do={"X": 1.0}, seed=3)
    # a continuous variable: X is set; M and Y are binary here, so check their modes are on the grid
    assert set(np.unique(cf["M"])) <= {0.0, 1.0} and set(np.unique(cf["Y"])) <= {0.0, 1.0}
    draws = two.sample(7, seed=0)
    assert draws.shape == (7, 3)
    # with a continuous outcome the counterfactual is the members' average
    cont = mediation_data()
    fit = fit_of(cont, "X ~ V; M ~ X + V; Y ~ X + M + V", epochs=1)
    ens = FittedFlow(fit.dag, fit.encoding, fit.config)
    ens.flow = NodeFlows.replicate(fit.flow, 2)
    with torch.no_grad():
        ens.flow.bias[1] += 0.2
    single = []
    for k in range(2):
        m = FittedFlow(fit.dag, fit.encoding, fit.config)
        m.flow = ens.flow.member(k)
        single.append(m.counterfactual(cont.head(20), do={"X": 0.5}))
    pooled = ens.counterfactual(cont.head(20), do={"X": 0.5})
    assert np.allclose(pooled["Y"], (single[0]["Y"] + single[1]["Y"]) / 2, atol=1e-5)
    assert np.allclose(pooled["M"], (single[0]["M"] + single[1]["M"]) / 2, atol=1e-5)


# ------------------------------------------------------------------ graph cases, both classes
@pytest.mark.parametrize("model, message", [
    ("X ~~ M", r"^The model has no equation: write at least one regression such as 'Y ~ X'\.$"),
    ([], r"^The model is empty: give at least one edge"),
    ("M ~ X; X ~~ Y; Y ~~ X", r"^'Y ~~ X' repeats 'X ~~ Y': declare each correlated pair once\.$"),
    ("M ~ X; X ~~ Y; X ~~ Y", r"^'X ~~ Y' repeats 'X ~~ Y': declare each correlated pair once\.$"),
    ("M ~ X; Y", r"^Cannot read the statement 'Y'"),
    (pd.DataFrame(0, index=list("XMY"), columns=list("XMY")).assign(M=[1, 0, 0]),
     r"Y has no edge|isolated|not connected|no edge"),
])
def test_flow_and_linear_sem_refuse_the_same_graphs(model, message):
    df = mediation_data()
    for cls in (mf.CausalFlow, mf.LinearSEM):
        with pytest.raises(ValueError, match=message):
            cls(model, df)


# ------------------------------------------------------------------ data and queries, both classes
def _holes(df):
    out = df.copy()
    out.loc[[3, 9], "M"] = np.nan
    return out


@pytest.mark.parametrize("make, kwargs, message", [
    (_holes, {}, r"^The data have missing values \(M: 2\)\. Remove or impute them, or pass "
                 r"missing='drop' to drop incomplete rows\.$"),
    (lambda df: df.assign(M=np.where(np.arange(len(df)) == 4, np.inf, df["M"])), {},
     r"^The data have non-finite values \(M: 1\)\.$"),
    (lambda df: df.assign(M=df["M"].map("{:.2f}".format)), {},
     r"^Model variables must be numeric; not numeric: M \((object|str)\)\. Recode categories "
     r"as integers \(e\.g\. 0/1\) before fitting\.$"),
    (lambda df: df, {"missing": "impute"}, r"^missing must be 'error' or 'drop', got 'impute'\.$"),
])
def test_flow_and_linear_sem_refuse_the_same_data(make, kwargs, message):
    df = make(mediation_data())
    for cls in (mf.CausalFlow, mf.LinearSEM):
        with pytest.raises(ValueError, match=message):
            cls("M ~ X; Y ~ X + M", df, **kwargs)


def test_linear_sem_drops_incomplete_rows_when_asked_as_the_flow_does():
    df = mediation_data()
    holes = _holes(df)
    for cls in (mf.CausalFlow, mf.LinearSEM):
        with pytest.warns(UserWarning, match=r"^Dropped 2 of 300 rows with missing values \(M: 2\)\.$"):
            cls("M ~ X; Y ~ X + M", holes, missing="drop")
    dropped = mf.LinearSEM("M ~ X; Y ~ X + M", df.drop(index=[3, 9])).fit()
    with pytest.warns(UserWarning):
        asked = mf.LinearSEM("M ~ X; Y ~ X + M", holes, missing="drop").fit()
    assert asked.n == 298
    pd.testing.assert_frame_equal(asked.params, dropped.params)


@pytest.mark.parametrize("treatment, outcome, message", [
    ("X", "X", r"^The treatment and the outcome are both 'X'; they must differ\.$"),
    ("Y", "X", r"^'X' is not a descendant of 'Y': there is no directed path Y -> \.\.\. -> X, so "
               r"every effect of Y on X is zero by assumption\.$"),
    ("X", "Q", r"^The outcome 'Q' is not a variable of the model; its variables are V, X, M, Y\.$"),
])
def test_flow_and_linear_sem_refuse_the_same_queries(small_fit, treatment, outcome, message):
    sem = mf.LinearSEM("X ~ V; M ~ X + V; Y ~ X + M + V", mediation_data()).fit()
    for res in (small_fit, sem):
        with pytest.raises(ValueError, match=message):
            res.effects(treatment, outcome)


# ------------------------------------------------------------------ training settings
@pytest.mark.parametrize("option, message", [
    (dict(bound=0), r"^bound must be a positive number \(the half-width of the splines' domain on "
                    r"the standardized scale; default 5\.0, e\.g\. 3 to 10\), got 0\.$"),
    (dict(bound=float("nan")), r"^bound must be a positive number .*got nan\.$"),
    (dict(hidden=2.5), r"^hidden must be a whole number of at least 1, got 2\.5\.$"),
])
def test_flow_settings_are_checked_naming_the_option(option, message):
    with pytest.raises(ValueError, match=message):
        mf.CausalFlow("M ~ X; Y ~ X + M", binary_data(), **option)


def test_learning_rate_is_bounded_and_a_diverged_fit_says_so():
    with pytest.raises(ValueError, match=r"^lr must be a positive number of at most 1 \(AdamW's "
                                         r"step size;.*got 10\.$"):
        mf.CausalFlow("M ~ X; Y ~ X + M", binary_data()).fit(lr=10, verbose=False)
    rng = np.random.default_rng(0)
    n = 400
    x = rng.integers(0, 2, n)
    m = x + rng.normal(size=n)
    df = pd.DataFrame({"X": x, "M": m, "Y": m + x + rng.normal(size=n)})
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    # Which of the two equations lr = 1 wrecks depends on the processor's kernels (both on
    # AVX-512, Y alone on AVX2): the warning, fit_info and summary() must name the same ones.
    with pytest.warns(ConvergenceWarning, match=r"Training failed \(diverged\): the flow of (M, Y|M|Y) "
                                                r"fits the held-out rows far worse") as caught:
        bad = mf.CausalFlow("M ~ X; Y ~ X + M", df).fit(lr=1.0, members=2, epochs=20, verbose=False,
                                                       linear_nodes="none")
    diverged = bad.fit_info["diverged_nodes"]
    assert diverged in (["M", "Y"], ["M"], ["Y"])
    named = ", ".join(diverged)
    assert any(f"the flow of {named} fits the held-out rows" in str(w.message) for w in caught)
    assert bad.summary().startswith(f"medflow {mf.__version__} FAILED: the flow of {named} fits held-out")
    # the same settings with the default linear_nodes='auto' fall back to the linear equations
    ok = mf.CausalFlow("M ~ X; Y ~ X + M", df).fit(lr=1.0, members=2, epochs=20, verbose=False)
    assert ok.fit_info["diverged_nodes"] == []
    te = float(ok.effects("X", "Y", interventional=False).params["TE"])
    assert abs(te - 2.0) < 0.3                                # truth: 2


def test_model_saved_without_data_answers_n_mc_queries(small_fit, tmp_path):
    back = load(small_fit.save(tmp_path / "m"))
    res = back.effects("X", "Y", mediators=["M"], n_mc=3000, seed=3, interventional=False)
    # the default contrast (the draws nearest the 75th and 25th percentile) and SD(Y) come from
    # draws from the model
    draws = back.sample(3000, seed=3)
    from medflow.estimands import default_contrast
    a, a_ref, _ = default_contrast(draws["X"].to_numpy())
    row = res.table.set_index("label").loc["TE"]
    assert (row["a"], row["a_ref"]) == pytest.approx((a, a_ref))
    assert row["estimate"] / row["estimate_sd"] == pytest.approx(float(draws["Y"].std()))
    same = small_fit.effects("X", "Y", mediators=["M"], n_mc=3000, seed=3, a=a, a_ref=a_ref,
                             interventional=False)
    assert np.allclose(res.params, same.params, atol=1e-10)
    assert float(res.params["TE"]) == pytest.approx(1.5 * (a - a_ref), rel=0.35)  # truth: 1.5 per unit
    grid = back.dose_response("X", "Y", n_mc=500, seed=1)
    assert len(grid) > 5 and np.isfinite(grid["estimate"]).all()
    with pytest.raises(ValueError, match=r"^This model was saved without its data .* for the units to "
                                         r"average over: pass the rows as data= \(or n_mc= to average "
                                         r"over draws from the fitted model\)"):
        back.effects("X", "Y", mediators=["M"])


# ------------------------------------------------------------------ few-valued codings (levels)
def three_level_data(n=400, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = np.digitize(x + rng.normal(size=n), [-0.5, 0.7]).astype(float)        # 0, 1, 2
    y = np.digitize(0.5 * x + m + rng.normal(size=n), [0.5, 1.8]).astype(float)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


MEDIATOR_CODINGS = {
    "0/1/2": lambda m: m,
    "-0.5/0.5/1.5": lambda m: m - 0.5,
    "z-scored": lambda m: (m - m.mean()) / m.std(),
    "uneven 0/1/3.71": lambda m: np.array([0.0, 1.0, 3.71])[m.astype(int)],
}


@pytest.mark.parametrize("discrete", [None, ["M"]])
def test_mediator_codings_give_the_same_effects(discrete):
    df = three_level_data()
    opts = dict(mediators=["M"], interventional=False, a=1.0, a_ref=0.0)
    results = {}
    for name, code in MEDIATOR_CODINGS.items():
        fit = mf.CausalFlow("M ~ X; Y ~ X + M", df.assign(M=code(df["M"])), discrete=discrete).fit(
            seed=0, members=1, epochs=4, verbose=False, linear_nodes="none")
        assert fit.encoding.discrete == ("M", "Y")
        results[name] = fit.effects("X", "Y", **opts).params
        cf = fit.counterfactual(df.assign(M=code(df["M"])).head(40), do={"X": 1.0})
        assert set(np.round(cf["M"], 9)) <= set(np.round(code(df["M"]), 9))   # the data's values
    base = results["0/1/2"]
    for name, params in results.items():
        assert np.allclose(params, base, atol=1e-4), name


def test_outcome_on_uneven_levels_is_averaged_in_the_data_units():
    df = three_level_data()
    values = np.array([0.0, 1.0, 3.71])
    fits = {}
    for name, y in (("codes", df["Y"]), ("uneven", values[df["Y"].astype(int)])):
        fits[name] = mf.CausalFlow("M ~ X; Y ~ X + M", df.assign(Y=y)).fit(
            seed=0, members=1, epochs=4, verbose=False, linear_nodes="none")
    assert fits["uneven"].encoding.levels[2] == (0.0, 1.0, 3.71)
    # the two flows see the same levels; their unit outcomes differ only by the map 0/1/2 -> values

    from medflow.effects import unit_effects
    u_codes = unit_effects(fits["codes"], "X", "Y", df, a=1.0, a_ref=0.0)
    u_uneven = unit_effects(fits["uneven"], "X", "Y", df.assign(Y=values[df["Y"].astype(int)]),
                            a=1.0, a_ref=0.0)
    mapped = values[np.round(u_codes["Y(a)"]).astype(int)]
    assert np.allclose(u_uneven["Y(a)"], mapped)
    te = fits["uneven"].effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0, interventional=False)
    expected = mapped.mean() - values[np.round(u_codes["Y(a_ref)"]).astype(int)].mean()
    assert float(te.params["TE"]) == pytest.approx(expected, abs=1e-9)
    assert set(np.unique(fits["uneven"].sample(200)["Y"])) <= set(values)
    with pytest.raises(ValueError, match=r"^Y is discrete and takes the values 0, 1, 3\.71: do= cannot "
                                         r"set it to 2\.$"):
        fits["uneven"].sample(5, do={"Y": 2.0})
