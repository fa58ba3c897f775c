"""Tests of medflow.datasets: published numbers, the OCG reader, the bundled data and the truths.

The truths are checked against things computed another way: path tracing for the
linear model (docs/design.md §1 numbers), exact enumeration for the discrete model, closed
forms for the rdiff and nonmonotone gaps, and fresh Monte Carlo runs for the
shipped tables.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from medflow import datasets as ds
from medflow.simulation import designs
from medflow.simulation import truth as oracle
from medflow.dag import DAG

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ocg1962_fixture.txt"
NAMES = ["V", "X", "U", "W", "Y"]
PUBLISHED = np.array([
    [1.000, 0.516, 0.453, 0.332, 0.322],
    [0.516, 1.000, 0.438, 0.417, 0.405],
    [0.453, 0.438, 1.000, 0.538, 0.596],
    [0.332, 0.417, 0.538, 1.000, 0.541],
    [0.322, 0.405, 0.596, 0.541, 1.000],
])
ADDITIVE = [("TE", "NDE via W", "NIE via W"), ("TE", "NDE via U", "NIE via U"),
            ("TE", "NDE via U+W", "NIE via U+W")]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data-raw" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _by_label(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("label")


# ------------------------------------------------------------------ published correlations
def test_published_correlations_values_and_attrs():
    r = ds.blau_duncan_correlations()
    assert list(r.index) == NAMES and list(r.columns) == NAMES
    np.testing.assert_array_equal(r.to_numpy(), PUBLISHED)
    assert r.attrs["n"] == 20700
    assert "Blau" in r.attrs["source"] and "1967" in r.attrs["source"] and "p. 169" in r.attrs["source"]
    assert r.attrs["labels"]["X"] == "father's occupational status (SEI)"


def test_published_correlations_file_is_written_by_data_raw_script():
    typed = _script("blau_duncan_correlations").matrix()
    pd.testing.assert_frame_equal(typed, ds.blau_duncan_correlations(), check_like=False)


def test_standardized_ols_on_published_matrix_gives_design_coefficients():
    # docs/design.md §1: U = .309 V + .278 X; W = .440 U + .224 X; Y = .394 U + .115 X + .281 W.
    r = ds.blau_duncan_correlations()
    for child, parents, expected in [("U", ["V", "X"], [0.309, 0.278]), ("W", ["U", "X"], [0.440, 0.224]),
                                     ("Y", ["U", "X", "W"], [0.394, 0.115, 0.281])]:
        beta = np.linalg.solve(r.loc[parents, parents], r.loc[parents, child])
        np.testing.assert_allclose(beta, expected, atol=6e-4)


# ------------------------------------------------------------------ OCG 1962 reader
def _read_fixture():
    with pytest.warns(UserWarning) as record:
        data = ds.read_ocg1962(FIXTURE)
    assert len(record) == 1
    return data, str(record[0].message)


def test_ocg_reader_counts_and_values_on_fixture():
    data, message = _read_fixture()
    assert data.shape == (40, 5)
    assert list(data.columns) == NAMES
    assert all(dtype == np.int64 for dtype in data.dtypes)
    assert data.iloc[0].tolist() == [3, 45, 5, 38, 52]
    assert data.sum().tolist() == [140, 1748, 146, 1723, 2001]
    assert data.min().tolist() == [0, 0, 0, 0, 5] and data.max().tolist() == [8, 92, 8, 96, 96]
    assert (data["X"] == 7).sum() == 1  # the space-padded "  7"
    assert data.attrs["n_read"] == 58
    assert data.attrs["dropped"] == {
        "not white": 8, "missing V": 3, "out of range V": 0, "missing X": 2, "out of range X": 0,
        "missing U": 1, "out of range U": 1, "missing W": 2, "out of range W": 0,
        "missing Y": 2, "out of range Y": 1, "total": 18,
    }
    assert message.startswith("read_ocg1962: kept 40 of 58 records")
    assert "dropped 18: 8 not white (race code other than 0), 10 white with missing or out-of-range" in message
    assert "missing V 3" in message and "out of range Y 1" in message


def test_ocg_reader_agrees_with_plain_slicing():
    data, _ = _read_fixture()
    rows = []
    for line in FIXTURE.read_text().splitlines():
        f = {"race": line[29], "Y": line[118:121], "W": line[130:133], "X": line[142:145],
             "U": line[165:167], "V": line[167:169]}
        if f["race"] != "0" or any(not f[k].strip() for k in NAMES):
            continue
        v = {k: int(f[k]) for k in NAMES}
        if v["V"] <= 8 and v["U"] <= 8 and all(v[k] <= 96 for k in "XWY"):
            rows.append([v[k] for k in NAMES])
    assert data.to_numpy().tolist() == rows


def test_ocg_fixture_is_reproduced_by_data_raw_script():
    assert _script("make_ocg_fixture").build() == FIXTURE.read_text()


def test_ocg_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No OCG 1962 file at '.*nowhere\.txt'"):
        ds.read_ocg1962(tmp_path / "nowhere.txt")
    lines = FIXTURE.read_text().splitlines()
    short = tmp_path / "short.txt"
    short.write_text(lines[0] + "\n" + "0" * 100 + "\n")
    with pytest.raises(ValueError, match=r"Line 2 of '.*short\.txt' has 100 characters; the OCG 1962 "
                                         r"layout needs at least 169"):
        ds.read_ocg1962(short)
    letters = tmp_path / "letters.txt"
    letters.write_text(lines[0][:142] + "4a5" + lines[0][145:] + "\n")
    with pytest.raises(ValueError, match=r"Line 1 of .*columns 143-145 \(X\) hold '4a5', which is not a number"):
        ds.read_ocg1962(letters)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match=r"has no records"):
        ds.read_ocg1962(empty)
    nonwhite = tmp_path / "nonwhite.txt"
    nonwhite.write_text(lines[0][:29] + "1" + lines[0][30:] + "\n")
    with pytest.raises(ValueError, match=r"No white men with complete V, X, U, W, Y in .*: 1 records read, "
                                         r"1 not white, 0 white with missing or out-of-range values"):
        ds.read_ocg1962(nonwhite)


def test_ocg_reader_is_silent_when_nothing_is_dropped(tmp_path):
    first = FIXTURE.read_text().splitlines()[0]
    clean = tmp_path / "clean.txt"
    clean.write_text(first + "\n\n" + first + "\n")  # the empty line is skipped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = ds.read_ocg1962(str(clean))
    assert data.to_numpy().tolist() == [[3, 45, 5, 38, 52]] * 2
    assert data.attrs["dropped"]["total"] == 0


# ------------------------------------------------------------------ bundled synthetic data
@pytest.fixture(scope="module")
def bundled():
    return ds.blau_duncan_synthetic()


def test_bundled_data_supports_and_types(bundled):
    assert bundled.shape == (20700, 5) and list(bundled.columns) == NAMES
    assert all(dtype == np.int64 for dtype in bundled.dtypes)
    for name in ("V", "U"):
        assert set(bundled[name].unique()) == set(range(9))
    for name in ("X", "W", "Y"):
        assert bundled[name].between(0, 96).all() and bundled[name].nunique() > 80
    # skewed scores with floor and ceiling effects
    skew = bundled.skew()
    assert skew["X"] > 1.0 and skew["W"] > 0.8 and skew["Y"] > 0.5
    assert (bundled["W"] == 0).mean() > 0.02 and (bundled["Y"] == 96).mean() > 0.004
    assert (bundled["X"] == 96).mean() > 0.01


def test_bundled_correlations_within_003_of_published(bundled):
    gap = (bundled.corr() - ds.blau_duncan_correlations()).abs().to_numpy()
    assert gap.max() < 0.03
    assert gap.max() == pytest.approx(0.0206, abs=5e-4)


def test_bundled_data_is_simulate_blau_duncan_seed_1967(bundled):
    sim = ds.simulate("blau_duncan", 20700, seed=1967)
    pd.testing.assert_frame_equal(sim.data, bundled, check_like=False)


def test_bundled_truth_table(bundled):
    truth = ds.blau_duncan_truth()
    assert truth["label"].tolist() == list(ds.EFFECT_LABELS)
    assert (truth["a"] == 33).all() and (truth["a_ref"] == 11).all()
    # the default contrast (sample quartiles) of the bundled data is the truth's contrast
    assert bundled["X"].quantile([0.75, 0.25]).tolist() == [33.0, 11.0]
    t = _by_label(truth)
    for total, nde, nie in ADDITIVE:
        assert t.loc[total, "truth"] == pytest.approx(t.loc[nde, "truth"] + t.loc[nie, "truth"], abs=1e-8)
        assert t.loc[total, "sample_truth"] == pytest.approx(
            t.loc[nde, "sample_truth"] + t.loc[nie, "sample_truth"], abs=1e-8)
    parts = t.loc[["PART via U", "PART via W", "PART direct"], "truth"].sum()
    assert parts == pytest.approx(t.loc["TE", "truth"], abs=1e-8)
    np.testing.assert_allclose(t["truth_sd"], t["truth"] / truth.attrs["sd_y"], rtol=1e-8)
    np.testing.assert_allclose(t["sample_truth_sd"], t["sample_truth"] / bundled["Y"].std(), rtol=1e-8)
    assert truth.attrs["n_mc"] == 4_000_000 and (t["mc_error"] < 0.003).all()
    # known facts of this model: positive effects; most of TE avoids W
    assert (t["truth"] > 0).all()
    assert 0.35 < t.loc["TE", "truth_sd"] < 0.41 and 0.08 < t.loc["NIE via W", "truth_sd"] < 0.11


def test_bundled_truth_matches_fresh_monte_carlo():
    shipped = _by_label(ds.blau_duncan_truth())
    scm = designs._SCMS["blau_duncan"]
    fresh = _by_label(oracle._mc_truth(scm, 33.0, 11.0, n_mc=150_000, seed=7))
    se = np.hypot(fresh["mc_error"], shipped["mc_error"])
    assert ((fresh["truth"] - shipped["truth"]).abs() < 4.5 * se + 1e-9).all()


def test_bundled_sample_truth_is_reproduced():
    sim = ds.simulate("blau_duncan", 20700, seed=1967)
    mine = _by_label(sim.sample_truth(seed=20700))
    shipped = _by_label(ds.blau_duncan_truth())
    np.testing.assert_allclose(mine["truth"], shipped["sample_truth"], rtol=1e-8)


# ------------------------------------------------------------------ structural equations
@pytest.mark.parametrize("name", [k for k in ds.DGPS if k != "nonmonotone"])
def test_structural_equations_are_monotone_in_their_noise(name):
    scm = designs._SCMS[name]
    rng = np.random.default_rng(3)
    sim = ds.simulate(name, 60, seed=4).data
    grid = np.linspace(-4, 4, 401)
    continuous = name not in ("blau_duncan", "discrete")
    for _, row in sim.iterrows():
        outs = [scm.u(np.full_like(grid, row.V), np.full_like(grid, row.X), grid),
                scm.w(np.full_like(grid, row.U), np.full_like(grid, row.X), grid),
                scm.y(np.full_like(grid, row.U), np.full_like(grid, row.X), np.full_like(grid, row.W), grid)]
        for out in outs:
            steps = np.diff(out)
            assert (steps > 0).all() if continuous else (steps >= 0).all()
    if name == "blau_duncan":  # discrete nodes are floors of a strictly increasing latent
        v, x = rng.integers(0, 9, 50).astype(float), rng.integers(0, 97, 50).astype(float)
        for vi, xi in zip(v, x):
            assert (np.diff(scm.u_latent(vi, xi, grid)) > 0).all()


def test_nonmonotone_equation_decreases_in_noise_below_zero_and_has_a_monotone_twin():
    scm, twin = designs._SCMS["nonmonotone"], designs._MONOTONE_TWIN
    grid = np.linspace(-3, 3, 101)
    assert (np.diff(scm.u(0.2, -0.5, grid)) < 0).all() and (np.diff(scm.u(0.2, 0.5, grid)) > 0).all()
    # the same data come from the twin with noise sign(X) * e_U: identical observed law
    sim = ds.simulate("nonmonotone", 2000, seed=5)
    eps = sim.noise.to_numpy().copy()
    eps[:, 2] *= np.where(sim.data["X"] >= 0, 1.0, -1.0)
    pd.testing.assert_frame_equal(twin.solve(eps), sim.data)


# ------------------------------------------------------------------ truths
def test_linear_monte_carlo_equals_path_tracing_and_design_numbers():
    scm = designs._SCMS["linear"]
    a, a_ref = scm.default_contrast()
    assert a == pytest.approx(0.6744897501960817) and a_ref == pytest.approx(-a)
    exact = _by_label(oracle._path_tracing_truth(scm, a, a_ref))
    mc = _by_label(oracle._mc_truth(scm, a, a_ref, n_mc=50_000, seed=1))
    assert ((mc["truth"] - exact["truth"]).abs() <= 3 * mc["mc_error"] + 1e-12).all()
    per_sd = exact["truth"] / (a - a_ref)
    # docs/design.md §1: total .322; through W .097 (.063 + .034); not through W .225 (.115 + .110)
    assert per_sd["TE"] == pytest.approx(0.322, abs=5e-4)
    assert per_sd["NIE via W"] == pytest.approx(0.097, abs=5e-4)
    assert per_sd["NDE via W"] == pytest.approx(0.225, abs=5e-4)
    assert per_sd["PART direct"] == pytest.approx(0.115, abs=1e-12)
    assert per_sd["PART via W"] == pytest.approx(0.224 * 0.281, abs=1e-12)
    assert scm.residual_scales == pytest.approx({"U": 0.859, "W": 0.818, "Y": 0.753}, abs=6e-4)


def test_linear_simulation_recovers_the_coefficients():
    data = ds.simulate("linear", 40_000, seed=2).data
    assert data.var().to_numpy() == pytest.approx(np.ones(5), abs=0.03)
    fit = smf.ols("Y ~ U + X + W", data).fit()
    assert fit.params[["U", "X", "W"]].to_numpy() == pytest.approx([0.394, 0.115, 0.281], abs=0.02)
    assert data[["V", "X"]].corr().iloc[0, 1] == pytest.approx(0.516, abs=0.015)


def test_discrete_enumeration_equals_monte_carlo():
    scm = designs._SCMS["discrete"]
    truth = ds.simulate("discrete", 10, seed=0).truth
    assert truth.attrs["method"] == "enumeration" and (truth["mc_error"] == 0).all()
    exact = _by_label(truth)
    mc = _by_label(oracle._mc_truth(scm, 1.0, 0.0, n_mc=400_000, seed=8))
    z = (mc["truth"] - exact["truth"]) / mc["mc_error"]
    assert (z.abs() < 4).all(), z
    assert mc.attrs["sd_y"] == pytest.approx(oracle._enumeration_truth(scm, 1.0, 0.0).attrs["sd_y"], abs=2e-3)
    # the cross-world NDE via W differs from the identified interventional analogue
    assert abs(exact.loc["NDE via W", "truth"] - exact.loc["rNDE via W", "truth"]) > 0.005


def test_discrete_data_supports():
    data = ds.simulate("discrete", 3000, seed=1).data
    assert all(dtype == np.int64 for dtype in data.dtypes)
    assert {c: sorted(data[c].unique().tolist()) for c in NAMES} == {
        "V": [0, 1], "X": [0, 1], "U": [0, 1, 2], "W": [0, 1], "Y": [0, 1]}


@pytest.mark.parametrize("name", ["blau_duncan", "nonlinear", "rdiff", "nonmonotone", "discrete"])
def test_effects_add_up_exactly_with_shared_noise(name):
    scm = designs._SCMS[name]
    t = _by_label(oracle._mc_truth(scm, *scm.default_contrast(), n_mc=20_000, seed=9))
    for total, nde, nie in ADDITIVE:
        assert t.loc[total, "truth"] == pytest.approx(t.loc[nde, "truth"] + t.loc[nie, "truth"], abs=1e-10)
    parts = t.loc[["PART via U", "PART via W", "PART direct"], "truth"].sum()
    assert parts == pytest.approx(t.loc["TE", "truth"], abs=1e-10)


@pytest.mark.parametrize("name", ["nonlinear", "rdiff", "nonmonotone"])
def test_shipped_truths_match_fresh_monte_carlo(name):
    sim = ds.simulate(name, 10, seed=0)
    shipped = _by_label(sim.truth)
    a, a_ref = designs._SCMS[name].default_contrast()
    assert shipped["a"].iloc[0] == pytest.approx(a) and shipped["a_ref"].iloc[0] == pytest.approx(a_ref)
    fresh = _by_label(sim.truth_at(a, a_ref, n_mc=200_000, seed=11))
    se = np.hypot(fresh["mc_error"], shipped["mc_error"])
    assert ((fresh["truth"] - shipped["truth"]).abs() < 4.5 * se + 1e-9).all()


def test_rdiff_interventional_effects_do_not_add_up_to_te():
    sim = ds.simulate("rdiff", 10, seed=0)
    t = _by_label(sim.truth)
    a, a_ref = t["a"].iloc[0], t["a_ref"].iloc[0]
    gap = t.loc["rNDE via W", "truth"] + t.loc["rNIE via W", "truth"] - t.loc["TE", "truth"]
    # closed form: -0.5 (U x W in Y) * 0.4 (X x U in W) * 0.8^2 (Var U | V) * (a - a_ref)
    assert gap == pytest.approx(-0.5 * 0.4 * 0.64 * (a - a_ref), abs=4 * t["mc_error"].max())
    assert gap / sim.truth.attrs["sd_y"] < -0.08  # the stated margin: more than 0.08 SD(Y)
    # via U there is no exposure-induced confounder: the randomized effects equal the natural ones
    for kind in ("NDE", "NIE"):
        assert t.loc[f"r{kind} via U", "truth"] == pytest.approx(t.loc[f"{kind} via U", "truth"],
                                                                 abs=4 * t["mc_error"].max())
    # in the linear model they add up exactly
    lin = _by_label(ds.simulate("linear", 10, seed=0).truth)
    assert lin.loc["rNDE via W", "truth"] + lin.loc["rNIE via W", "truth"] == pytest.approx(lin.loc["TE", "truth"])


def test_nonmonotone_cross_world_effects_differ_from_the_monotone_twin():
    sim = ds.simulate("nonmonotone", 10, seed=0)
    true, mono = _by_label(sim.truth), _by_label(sim.monotone_truth)
    se = np.hypot(true["mc_error"], mono["mc_error"])
    identified = [lbl for lbl in ds.EFFECT_LABELS if not lbl.endswith("via W") or lbl.startswith("r")]
    assert "NDE via W" not in identified and "rNDE via W" in identified and "TE" in identified
    assert ((true.loc[identified, "truth"] - mono.loc[identified, "truth"]).abs() < 4.5 * se[identified]).all()
    # closed form of the gap: 0.4 (U x W) * 0.6 (U -> W) * (-0.64 - 0.64) (antitone vs comonotone U's)
    gap = true.loc["NDE via W", "truth"] - mono.loc["NDE via W", "truth"]
    assert gap == pytest.approx(0.4 * 0.6 * (-2 * 0.64), abs=4.5 * se["NDE via W"])
    assert abs(gap) / sim.truth.attrs["sd_y"] > 0.25
    assert ds.simulate("linear", 10, seed=0).monotone_truth is None


# ------------------------------------------------------------------ simulate()
@pytest.mark.parametrize("name", list(ds.DGPS))
def test_simulate_returns_a_complete_simulation(name):
    sim = ds.simulate(name, 300, seed=12)
    assert sim.dgp == name and sim.treatment == "X" and sim.outcome == "Y"
    assert sim.model == "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
    assert DAG.from_syntax(sim.model).order == tuple(NAMES)
    assert list(sim.data.columns) == NAMES and sim.data.shape == (300, 5)
    assert np.isfinite(sim.data.to_numpy(dtype=float)).all()
    assert sim.noise.shape == (300, 5)
    assert list(sim.truth.columns) == ["label", "a", "a_ref", "truth", "truth_sd", "mc_error"]
    assert all(sim.truth[c].dtype == np.float64 for c in ["a", "a_ref", "truth", "truth_sd", "mc_error"])
    assert sim.truth["label"].tolist() == list(ds.EFFECT_LABELS)
    for col in sim.discrete:
        assert sim.data[col].dtype == np.int64
    assert repr(sim) == f"Simulation(dgp='{name}', n=300, seed=12)"
    assert sim.description == ds.DGPS[name]


def test_simulate_is_reproducible_and_leaves_global_state_alone():
    state = np.random.get_state()[1].copy()
    first = ds.simulate("nonlinear", 500, seed=42)
    second = ds.simulate("nonlinear", 500, seed=42)
    other = ds.simulate("nonlinear", 500, seed=43)
    pd.testing.assert_frame_equal(first.data, second.data)
    assert not first.data.equals(other.data)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert ds.simulate("linear", 50).data.shape == (50, 5)  # seed=None draws fresh entropy


def test_simulate_rejects_bad_input():
    with pytest.raises(ValueError, match=r"Unknown dgp 'gaussian'; choose one of: blau_duncan, linear, "
                                         r"nonlinear, discrete, rdiff, nonmonotone\."):
        ds.simulate("gaussian", 100, seed=0)
    for bad in (0, 1, 2.5, True, "100"):
        with pytest.raises(ValueError, match=r"n must be an integer of at least 2"):
            ds.simulate("linear", bad, seed=0)
    with pytest.raises(ValueError, match=r"seed must be an integer or None, got 'x'"):
        ds.simulate("linear", 10, seed="x")
    sim = ds.simulate("linear", 10, seed=0)
    with pytest.raises(ValueError, match=r"a_ref must be a finite number, got nan"):
        sim.truth_at(1.0, float("nan"))
    with pytest.raises(ValueError, match=r"n_mc must be an integer of at least 2"):
        sim.truth_at(1.0, 0.0, n_mc=0)
    with pytest.raises(ValueError, match=r"grid must hold at least one finite treatment value"):
        sim.dose_response([])


def test_truth_at_other_contrasts():
    lin = ds.simulate("linear", 10, seed=0)
    t = _by_label(lin.truth_at(1.0, 0.0))
    total = 0.115 + 0.278 * 0.394 + 0.224 * 0.281 + 0.278 * 0.440 * 0.281
    assert t.loc["TE", "truth"] == pytest.approx(total, abs=1e-12)
    disc = ds.simulate("discrete", 10, seed=0)
    pd.testing.assert_frame_equal(disc.truth_at(1, 0), disc.truth)
    flipped = _by_label(disc.truth_at(0, 1))
    assert flipped.loc["TE", "truth"] == pytest.approx(-disc.truth.set_index("label").loc["TE", "truth"])
    nl = ds.simulate("nonlinear", 10, seed=0)
    one = nl.truth_at(0.5, 0.0, n_mc=20_000, seed=3)
    pd.testing.assert_frame_equal(one, nl.truth_at(0.5, 0.0, n_mc=20_000, seed=3))
    assert (one["a"] == 0.5).all() and (one["a_ref"] == 0.0).all()


def test_unit_counterfactuals_sample_truth_and_dose_response():
    lin = ds.simulate("linear", 1000, seed=6)
    total = 0.115 + 0.278 * 0.394 + 0.224 * 0.281 + 0.278 * 0.440 * 0.281
    hi, lo = lin.counterfactual(1.0), lin.counterfactual(0.0)
    np.testing.assert_array_equal(hi["V"], lin.data["V"])
    np.testing.assert_allclose(hi["Y"] - lo["Y"], total, atol=1e-12)
    np.testing.assert_allclose(lin.sample_truth()["truth"], lin.truth["truth"], atol=1e-12)
    observed = lin.counterfactual(0.0).assign(X=lin.data["X"])
    assert not observed.equals(lin.data)  # do(X) changes the descendants, not only X
    dose = lin.dose_response([-1.0, 0.0, 1.0], n_mc=50_000, seed=1)
    assert list(dose.columns) == ["a", "truth", "mc_error"]
    assert ((dose["truth"] - total * dose["a"]).abs() < 4 * dose["mc_error"]).all()
    disc = ds.simulate("discrete", 200, seed=6).counterfactual(1)
    assert disc["X"].eq(1).all() and all(dtype == np.int64 for dtype in disc.dtypes)


# ------------------------------------------------------------------ GSS real data
#: Correlations of the extract's provenance README (N = 1,501; /work/shared/data/README.md).
GSS_README_CORRELATIONS = {("V", "X"): 0.576, ("V", "U"): 0.533, ("X", "U"): 0.379, ("U", "Y"): 0.599,
                           ("X", "Y"): 0.328, ("V", "Y"): 0.384}


@pytest.fixture(scope="module")
def gss():
    return ds.gss_status_attainment()


def test_gss_shape_columns_and_types(gss):
    assert gss.shape == (1501, 9)
    assert list(gss.columns) == ["V", "X", "U", "Y", "year", "age", "race", "papres10", "prestg10"]
    assert gss.dtypes.astype(str).to_dict() == {
        "V": "int64", "X": "float64", "U": "int64", "Y": "float64", "year": "int64", "age": "int64",
        "race": "int64", "papres10": "int64", "prestg10": "int64"}
    assert not gss.isna().any().any()
    assert gss.attrs["model"] == ds.GSS_MODEL == "U ~ V + X; Y ~ U + X; V ~~ X"
    assert gss.attrs["n"] == 1501
    assert gss.attrs["citation"].startswith("Smith, T. W., Davern, M., Freese, J., and Morgan, S. L. "
                                            "General Social Surveys")
    assert "NORC" in gss.attrs["citation"] and "General Social Survey" in gss.attrs["source"]
    assert set(gss.attrs["labels"]) == set(gss.columns) and "PASEI10" in gss.attrs["labels"]["X"]


def test_gss_ranges(gss):
    assert (gss["V"].min(), gss["V"].max()) == (0, 20)
    assert gss["U"].between(0, 20).all() and gss["U"].max() == 20
    assert (gss["X"].min(), gss["X"].max()) == (10.6, 92.8)
    assert gss["Y"].between(10, 93).all()
    assert set(gss["year"]) == {2006, 2008, 2010}
    assert (gss["age"].min(), gss["age"].max()) == (25, 64)
    assert gss["race"].value_counts().to_dict() == {1: 1207, 3: 157, 2: 137}
    assert gss[["papres10", "prestg10"]].stack().between(0, 100).all()
    # SEI scores carry one decimal, as in the GSS
    np.testing.assert_allclose(gss[["X", "Y"]] * 10, np.round(gss[["X", "Y"]] * 10), atol=1e-9)


def test_gss_correlations_match_the_provenance_readme(gss):
    r = gss[["V", "X", "U", "Y"]].corr()
    for (a, b), published in GSS_README_CORRELATIONS.items():
        assert round(float(r.loc[a, b]), 3) == published, (a, b)
    # the prestige alternatives track the SEI scores closely
    assert gss["papres10"].corr(gss["X"]) == pytest.approx(0.839, abs=5e-4)
    assert gss["prestg10"].corr(gss["Y"]) == pytest.approx(0.833, abs=5e-4)


def test_gss_file_is_the_data_raw_scripts_output():
    script = _script("gss_status_attainment")
    shipped = ds.gss_status_attainment()
    assert script.LABELS == shipped.attrs["labels"] and script.CITATION == shipped.attrs["citation"]
    assert script.README_CORRELATIONS == GSS_README_CORRELATIONS
    if not script.SOURCE_FILE.is_file():
        pytest.skip(f"the shared GSS extract {script.SOURCE_FILE} is not on this machine")
    built = script.build(script.SOURCE_FILE)
    assert script.text(built) == (ROOT / "python" / "medflow" / "data" /
                                  "gss_status_attainment.csv").read_text(encoding="utf-8")
    pd.testing.assert_frame_equal(built, shipped)
