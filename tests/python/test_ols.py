"""The one OLS helper (medflow.ols) against statsmodels, and its users agree with it."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
import torch

from medflow.copula import copula_linear_part
from medflow.ols import node_regressions, slopes_from_cov, weighted_moments
from medflow.training import fit_linear_part

MASK = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0]])   # X -> M, X -> Y, M -> Y


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = 0.5 * x + rng.normal(size=n)
    y = 0.3 * x + 0.8 * m + rng.normal(size=n) * (1 + 0.5 * (x > 0))
    return np.column_stack([x, m, y]), rng.integers(0, 4, size=n).astype(float)


def test_weighted_regressions_equal_statsmodels_wls():
    v, w = _data()
    mean, cov = weighted_moments(v, w)
    weight, resid = node_regressions(cov, MASK)
    keep = w > 0
    for j, parents in ((1, [0]), (2, [0, 1])):
        design = sm.add_constant(v[keep][:, parents])
        res = sm.WLS(v[keep, j], design, weights=w[keep]).fit()
        assert weight[j, parents] == pytest.approx(res.params[1:], abs=1e-12)
        ml_var = np.average(res.resid**2, weights=w[keep])     # ddof = 0
        assert resid[j] == pytest.approx(ml_var, rel=1e-10)
        assert mean[j] - weight[j, parents] @ mean[parents] == pytest.approx(res.params[0], abs=1e-12)
    assert resid[0] == pytest.approx(cov[0, 0])               # a root: its own variance


def test_singular_regressors_get_the_minimum_norm_solution():
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    v = np.column_stack([x, x, np.ones(50), 2 * x])           # a duplicate and a constant column
    _, cov = weighted_moments(v)
    b = slopes_from_cov(cov, 3, [0, 1, 2])
    assert b == pytest.approx([1.0, 1.0, 0.0], abs=1e-10)      # min-norm split of the slope 2
    assert slopes_from_cov(cov, 3, []).shape == (0,)


def test_flow_start_and_copula_start_use_the_same_regressions():
    v, w = _data(seed=2)
    step = np.array([0.0, 0.0, 0.0])
    t = torch.as_tensor(v)
    wt, bias, log_scale = fit_linear_part(t, t, torch.as_tensor(MASK, dtype=t.dtype), torch.zeros(3),
                                          weights=torch.as_tensor(w))
    mean, cov = weighted_moments(v, w)
    weight, resid = node_regressions(cov, MASK)
    assert wt.numpy() == pytest.approx(weight, abs=1e-12)
    assert np.exp(2 * log_scale.numpy()) == pytest.approx(resid, rel=1e-10)
    b0, s0 = copula_linear_part(cov, MASK, step, np.eye(3))
    assert b0 == pytest.approx(weight, abs=1e-12) and np.exp(2 * s0) == pytest.approx(resid, rel=1e-10)
