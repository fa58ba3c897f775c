"""Conditional means of a fitted flow: ``E[node | parents]`` for given parent values.

A node's structural equation in the flow is ``node = T^{-1}(eps; parents)`` with
standard-normal noise ``eps``; its conditional mean given the parents is the average
of ``T^{-1}`` over draws of ``eps`` (floored onto the integer grid for a discrete
node), and, for a fitted ensemble, over its members. This is a regression
prediction, not a causal effect: use the effect queries for those.

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); y = 2 * x + rng.normal(size=400)
    >>> fit = mf.CausalFlow("Y ~ X", pd.DataFrame({"X": x, "Y": y})).fit(epochs=3, verbose=False)
    >>> pred = conditional_mean(fit, "Y", pd.DataFrame({"X": [-1.0, 0.0, 1.0]}))
    >>> pred.shape, bool(pred[0] < pred[1] < pred[2])
    ((3,), True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

__all__ = ["conditional_mean"]


@torch.no_grad()
def conditional_mean(fit, node: str, data: pd.DataFrame, n_mc: int = 256, seed: int = 0,
                     chunk_rows: int = 200_000) -> np.ndarray:
    """``E[node | parents]`` under a fitted flow, for each row of ``data`` (original units).

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        node: the variable to predict.
        data: a DataFrame with a column for each parent of ``node`` (other columns are
            ignored); a root node needs none.
        n_mc: draws of the node's noise per row.
        seed: seed of the noise draws (the same seed gives the same predictions).
        chunk_rows: rows times draws evaluated at once (memory bound).

    Returns:
        An array with one conditional mean per row of ``data``.

    Raises:
        ValueError: for an unknown node, missing parent columns, missing values or
            ``n_mc < 1``.
    """
    flow = fit._require_fitted()
    j = fit._index(node)
    if int(n_mc) < 1:
        raise ValueError(f"n_mc must be a whole number of at least 1, not {n_mc}.")
    n_mc = int(n_mc)
    parents = list(fit.flow_dag.parents[node])
    absent = [p for p in parents if p not in data.columns]
    if absent:
        raise ValueError(f"data has no column {', '.join(absent)}: predicting {node} needs the values "
                         f"of its parents ({', '.join(parents)}).")
    values = np.zeros((len(data), len(fit.variables)))
    enc = fit.encoding
    values[:] = np.asarray(enc.loc, dtype=float)          # non-parents: unused, at their centre
    for p in parents:
        col = pd.to_numeric(data[p], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(col)):
            raise ValueError(f"data column {p} has missing or non-numeric values.")
        values[:, fit._index(p)] = col
    x = torch.as_tensor(enc.standardize(values), dtype=fit.dtype)
    gen = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(n_mc, generator=gen, dtype=fit.dtype)
    per_chunk = max(1, chunk_rows // n_mc)
    out = np.empty(len(data))
    for start in range(0, len(data), per_chunk):
        xb = x[start:start + per_chunk]
        b = len(xb)
        xx = xb.repeat_interleave(n_mc, dim=0).to(fit.device)          # (b * n_mc, d)
        ee = eps.repeat(b).to(fit.device)                               # (b * n_mc,)
        xe = xx.expand(flow.E, *xx.shape)
        v = flow.inverse_node(j, ee.expand(flow.E, -1), xe)             # (E, b * n_mc)
        if fit.disc_step[j] > 0:
            v = fit._discretize(j, v)
        v = fit._in_units(j, v.cpu())
        out[start:start + b] = v.reshape(flow.E, b, n_mc).mean(dim=(0, 2)).numpy()
    return out
