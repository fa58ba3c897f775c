"""Conditional means E[node | parents] of a fitted flow against known truths."""

import numpy as np
import pandas as pd
import pytest

import medflow as mf
from medflow.conditional import conditional_mean


@pytest.fixture(scope="module")
def linear_fit():
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=n)
    m = 1.0 + 0.8 * x + 0.6 * rng.normal(size=n)
    y = 2.0 - 0.5 * x + 1.5 * m + 0.5 * rng.normal(size=n)
    data = pd.DataFrame({"X": x, "M": m, "Y": y})
    return mf.CausalFlow("M ~ X; Y ~ X + M", data).fit(seed=0, epochs=3, verbose=False)


def test_conditional_mean_of_a_linear_gaussian_model_is_the_regression_line(linear_fit):
    grid = pd.DataFrame({"X": [-1.0, 0.0, 1.0], "M": [0.0, 1.0, 2.0]})
    truth_y = 2.0 - 0.5 * grid["X"] + 1.5 * grid["M"]
    truth_m = 1.0 + 0.8 * grid["X"]
    pred_y = conditional_mean(linear_fit, "Y", grid, n_mc=400)
    pred_m = conditional_mean(linear_fit, "M", grid, n_mc=400)
    # N = 600 and a flow that starts from OLS: within 0.1 of the true line (SD of Y's noise 0.5)
    np.testing.assert_allclose(pred_y, truth_y, atol=0.1)
    np.testing.assert_allclose(pred_m, truth_m, atol=0.1)
    # a root's conditional mean is its mean
    root = conditional_mean(linear_fit, "X", grid, n_mc=2000)
    np.testing.assert_allclose(root, linear_fit.data["X"].mean(), atol=0.1)


def test_conditional_mean_is_reproducible_and_checks_its_input(linear_fit):
    grid = pd.DataFrame({"X": [0.5], "M": [1.2]})
    a = conditional_mean(linear_fit, "Y", grid, seed=4)
    assert np.array_equal(a, conditional_mean(linear_fit, "Y", grid, seed=4))
    with pytest.raises(ValueError, match="data has no column M: predicting Y needs the values of its "
                                         r"parents \(X, M\)\."):
        conditional_mean(linear_fit, "Y", pd.DataFrame({"X": [0.0]}))
    with pytest.raises(ValueError, match="'Z' is not a variable of the model"):
        conditional_mean(linear_fit, "Z", grid)
    with pytest.raises(ValueError, match="n_mc must be a whole number of at least 1, not 0."):
        conditional_mean(linear_fit, "Y", grid, n_mc=0)
    with pytest.raises(ValueError, match="data column X has missing or non-numeric values."):
        conditional_mean(linear_fit, "Y", pd.DataFrame({"X": [np.nan], "M": [1.0]}))


def test_conditional_mean_of_a_discrete_node_stays_on_its_grid_average():
    rng = np.random.default_rng(1)
    x = rng.normal(size=500)
    k = (x + rng.normal(size=500) > 0).astype(int)           # P(K = 1 | X = x) = Phi(x / 1)
    fit = mf.CausalFlow("K ~ X", pd.DataFrame({"X": x, "K": k})).fit(seed=0, epochs=3, verbose=False)
    pred = conditional_mean(fit, "K", pd.DataFrame({"X": [-2.0, 0.0, 2.0]}), n_mc=2000)
    assert np.all((pred >= 0) & (pred <= 1))
    assert pred[0] < pred[1] < pred[2]
    np.testing.assert_allclose(pred[1], 0.5, atol=0.1)
