"""One-node least squares from moments: the one OLS helper of medflow.

The linear structural equation of a node is the least-squares regression of the node on
its parents. Everything that needs it works from (weighted) first and second moments:
the linear SEM (:mod:`medflow.linear`: estimates, bootstrap and moment-only models),
the flow's linear part and starting point (:func:`medflow.training.fit_linear_part`) and
the warm start of the sensitivity refits (:func:`medflow.copula.copula_linear_part`).

* :func:`weighted_moments` — weighted means and covariance (``ddof=0``) of the columns;
* :func:`slopes_from_cov` — the slopes of one column on others, from a covariance matrix;
* :func:`node_regressions` — every node on its parents at once, with residual variances.

The slopes are solved on the correlation scale, so columns in very different units are
no harder than standardized ones; a singular system (a constant or collinear parent)
gets the minimum-norm solution, as ``numpy.linalg.lstsq`` would give on the data.

Example:
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 3.0]); y = np.array([1.0, 3.0, 4.0, 7.0])
    >>> mean, cov = weighted_moments(np.column_stack([x, y]))
    >>> slopes_from_cov(cov, 1, [0]).round(6).tolist()
    [1.9]
    >>> weight, resid_var = node_regressions(cov, np.array([[0, 0], [1, 0]]))
    >>> round(float(weight[1, 0]), 6), round(float(resid_var[1]), 6)   # slope, residual variance
    (1.9, 0.175)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.linalg

__all__ = ["weighted_moments", "slopes_from_cov", "node_regressions"]


def weighted_moments(x: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means ``(k,)`` and covariance ``(k, k)`` (``ddof=0``) of the columns of ``x``.

    Args:
        x: ``(N, k)`` values.
        weights: optional ``(N,)`` non-negative row weights (e.g. resampling counts; rows
            with weight 0 are left out).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    w = None if weights is None else np.asarray(weights, dtype=float)
    mean = np.average(x, axis=0, weights=w)
    cov = np.atleast_2d(np.cov(x, rowvar=False, aweights=w, bias=True))
    return mean, cov


def slopes_from_cov(cov: np.ndarray, lhs: int, rhs: Sequence[int]) -> np.ndarray:
    """Least-squares slopes of column ``lhs`` on the columns ``rhs`` of a covariance matrix.

    Solved on the correlation scale by a Cholesky factorization; when that fails (a
    constant or collinear regressor) the minimum-norm least-squares solution is returned.
    """
    rhs = list(rhs)
    if not rhs:
        return np.zeros(0)
    cov = np.asarray(cov, dtype=float)
    sd = np.sqrt(np.diag(cov))
    if np.all(sd[rhs] > 0) and sd[lhs] > 0:
        corr = cov / np.outer(sd, sd)
        try:
            factor = scipy.linalg.cho_factor(corr[np.ix_(rhs, rhs)])
            return scipy.linalg.cho_solve(factor, corr[rhs, lhs]) * sd[lhs] / sd[rhs]
        except np.linalg.LinAlgError:
            pass
    solution, *_ = np.linalg.lstsq(cov[np.ix_(rhs, rhs)], cov[rhs, lhs], rcond=None)
    return solution


def node_regressions(cov: np.ndarray, mask: np.ndarray,
                     extra_variance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every node regressed on its parents, from the covariance of the nodes.

    Args:
        cov: ``(d, d)`` covariance of the nodes (``ddof=0`` gives maximum-likelihood
            residual variances).
        mask: ``(d, d)`` parent mask, ``mask[j, k] > 0`` when ``k`` is a parent of ``j``.
        extra_variance: optional ``(d,)`` variance added to each residual variance (the
            flow's dequantization adds ``step**2 / 12`` for a discrete node).

    Returns:
        ``weight (d, d)`` (row ``j`` holds node ``j``'s slopes on its parents) and the
        residual variances ``(d,)``.
    """
    cov = np.asarray(cov, dtype=float)
    mask = np.asarray(mask) > 0
    d = cov.shape[0]
    weight = np.zeros((d, d))
    resid = np.empty(d)
    for j in range(d):
        pa = np.flatnonzero(mask[j])
        weight[j, pa] = slopes_from_cov(cov, j, pa)
        resid[j] = cov[j, j] - weight[j] @ cov[:, j]
    if extra_variance is not None:
        resid = resid + np.asarray(extra_variance, dtype=float)
    return weight, resid
