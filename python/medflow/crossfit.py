"""The fitting procedure: a cross-fitted ensemble of flows, and the linearity check it gives.

A single maximum-likelihood fit of a flow is not a function of the data alone:
the initial weights and the minibatch order move its effects by about one
standard error, because interventions take units into sparse regions where the
conditioners' extrapolation costs little likelihood. medflow therefore fits
``K`` flows (members) as one batched ensemble, each on all rows except one of
``K`` folds, each keeping its best epoch on its own held-out fold (or its
weights averaged over the end of the schedule, where those fit that fold
better; :class:`~medflow.training.TrainSettings`), and averages every effect
over the members. The members differ in their initial
weights and in the fold they leave out, so their average removes most of the
optimiser's randomness at the cost of ``K`` fits trained together.

The held-out folds give, for free, a cross-validated log-likelihood per node:
:func:`linearity` sets each node's flow against its linear-Gaussian equation
(weighted OLS on the same training rows, the flow's own starting point), with a
standard error over folds. A node whose flow does not predict its held-out
fold clearly better than the linear equation (a gain of more than two
standard errors) is replaced by that equation in every member
(``linear_nodes="auto"``), so where the data show no departure from linearity
the flow is the linear SEM.

Bootstrap replicates run the same procedure on their resamples
(:mod:`medflow.bootstrap`).

Example:
    >>> import torch
    >>> folds = assign_folds(10, 5, torch.Generator().manual_seed(0))
    >>> sorted(folds.tolist())
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medflow.flow import NodeFlows
from medflow.training import TrainSettings, fit_linear_part, node_log_lik, train

__all__ = ["assign_folds", "member_weights", "train_members", "Members", "gain_z", "linearity",
           "linearize", "LINEARITY_COLUMNS", "DEPARTURE_Z"]

#: Columns of the linearity table (:func:`linearity`), one row per node with parents.
LINEARITY_COLUMNS = ("node", "parents", "discrete", "flow_loglik", "linear_loglik", "gain", "se",
                     "z", "departs", "equation")


def assign_folds(n: int, k: int, generator: torch.Generator) -> np.ndarray:
    """Fold of every row: a random permutation of ``0, 1, ..., k - 1, 0, 1, ...`` (sizes differ by <= 1)."""
    perm = torch.randperm(n, generator=generator).numpy()
    folds = np.empty(n, dtype=np.int64)
    folds[perm] = np.arange(n) % k
    return folds


def member_weights(folds: np.ndarray, k: int, counts: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Training and validation row weights ``(K, N)`` of ``K`` members: member ``m`` holds out fold ``m``.

    ``counts`` (``(N,)`` or ``(K, N)``) are resampling counts that multiply both (bootstrap).

    Example:
        >>> import numpy as np
        >>> tw, vw = member_weights(np.array([0, 1, 0, 1]), 2)
        >>> tw.tolist(), vw.tolist()
        ([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    """
    f = torch.as_tensor(folds)
    held = (f[None, :] == torch.arange(k)[:, None]).double()
    c = torch.ones(1, len(folds), dtype=torch.float64) if counts is None else counts.double().reshape(-1, len(folds))
    return (1.0 - held) * c, held * c


@dataclass
class Members:
    """A trained ensemble and what :func:`linearity` needs about it."""

    flow: NodeFlows           # the trained members
    linear: NodeFlows         # each member's linear-Gaussian equations (OLS on its training rows)
    train_weights: Tensor     # (K, N)
    val_weights: Tensor       # (K, N)
    history: pd.DataFrame     # per epoch (see medflow.training.train)
    best_epochs: list[int]    # per member
    averaged: list[bool]      # per member: keeps its averaged weights (TrainSettings.average)
    grad_norm: list[float] | None  # per member: norm of the full-data gradient at the kept weights


def train_members(x: Tensor, disc_step: Tensor, mask: Tensor, config: dict, settings: TrainSettings,
                  train_weights: Tensor, val_weights: Tensor, generator: torch.Generator, *,
                  interval: tuple[Tensor, Tensor] | None = None, device: torch.device | str = "cpu",
                  verbose: bool = False, desc: str = "fitting flow",
                  start: NodeFlows | None = None, grad_norm: bool = True) -> Members:
    """Train ``K = len(train_weights)`` members as one batched ensemble.

    Member ``m`` starts from the weighted OLS of every node on its parents with its training
    weights (the linear SEM) and a spline at the identity, or from ``start`` (a one-member flow,
    its linear part moved by the member's OLS shift) when given; it is trained on its training
    weights and keeps its best epoch on its validation weights, or its weights averaged over the
    end of the schedule where those predict the validation rows better.

    Args:
        x: ``(N, d)`` standardized data. disc_step: ``(d,)`` integer step (0: continuous).
        mask: parent mask. config: flow architecture (:class:`~medflow.flow.FlowConfig`).
        settings: optimisation settings. train_weights, val_weights: ``(K, N)`` row weights.
        generator: source of the initial weights, minibatch order and dequantization.
        interval: standardized observed range: discrete nodes use their exact interval mass.
        grad_norm: compute each member's full-data gradient norm (``Members.grad_norm``;
            ``None`` when ``False``, as for bootstrap replicates, which do not report it).
    """
    k, n = train_weights.shape
    dtype = x.dtype
    flow = (NodeFlows(mask, ensemble=k, generator=generator, dtype=dtype, **config) if start is None
            else NodeFlows.replicate(start, k))
    linear = NodeFlows(mask, ensemble=k, dtype=dtype, **config)
    linear.requires_grad_(False)
    mid = x + 0.5 * disc_step
    ols = [fit_linear_part(x, mid, mask, disc_step, weights=train_weights[m]) for m in range(k)]
    w, b, s = (torch.stack(t) for t in zip(*ols))
    with torch.no_grad():
        linear.weight.copy_(w * mask), linear.bias.copy_(b), linear.log_scale.copy_(s)
        if start is None:
            flow.weight.copy_(w * mask), flow.bias.copy_(b), flow.log_scale.copy_(s)
        else:
            w0, b0, s0 = fit_linear_part(x, mid, mask, disc_step)
            flow.weight.add_((w - w0) * mask), flow.bias.add_(b - b0), flow.log_scale.add_(s - s0)
    rows = np.flatnonzero((train_weights.sum(0) > 0).numpy())
    held = np.flatnonzero((val_weights.sum(0) > 0).numpy())
    dev = torch.device(device)
    flow.to(dev)
    iv = None if interval is None else tuple(t.to(dev) for t in interval)
    history = train(flow, x.to(dev), disc_step.to(dev), rows, held, settings, generator,
                    weights=train_weights.to(dtype=dtype, device=dev), verbose=verbose, desc=desc,
                    interval=iv, val_weights=val_weights[:, held])
    flow.cpu()
    best = history.attrs["best_epochs"]
    return Members(flow=flow, linear=linear, train_weights=train_weights, val_weights=val_weights,
                   history=history, best_epochs=list(best), averaged=list(history.attrs["averaged"]),
                   grad_norm=_grad_norm(flow, x, disc_step, train_weights, interval) if grad_norm else None)


#: Rows (members x data rows) per backward pass of :func:`_grad_norm`: bounds its memory
#: (about 2 GB) however many members; a fit of 5 members on 20,700 rows takes one pass.
GRAD_NORM_ROWS = 2 ** 18


def _grad_norm(flow: NodeFlows, x: Tensor, disc_step: Tensor, weights: Tensor,
               interval: tuple[Tensor, Tensor] | None) -> list[float]:
    """Norm of the gradient of each member's mean training NLL at its kept weights (full data),
    accumulated over slices of the rows."""
    k, n = flow.E, x.shape[0]
    flow.zero_grad(set_to_none=True)
    u = torch.full_like(x, 0.5)
    w = weights.to(x.dtype)
    total = w.sum(1)
    step = max(1, GRAD_NORM_ROWS // k)
    for lo in range(0, n, step):
        xs, us = x[lo:lo + step], u[lo:lo + step]
        nll = -node_log_lik(flow, xs.expand(k, -1, -1), us.expand(k, -1, -1), disc_step, interval).sum(-1)
        ((nll * w[:, lo:lo + step]).sum(1) / total).sum().backward()
    sq = torch.zeros(k, dtype=torch.float64)
    for p in flow.parameters():
        if p.grad is not None:
            sq += p.grad.detach().reshape(k, -1).double().pow(2).sum(1)
    flow.zero_grad(set_to_none=True)
    return [float(v) for v in sq.sqrt()]


@torch.no_grad()
def _held_out_log_lik(flow: NodeFlows, x: Tensor, disc_step: Tensor, val_weights: Tensor,
                      interval: tuple[Tensor, Tensor] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per member and node: weighted mean held-out log-likelihood ``(K, d)`` and the held-out
    per-row values ``(K, N, d)`` (standardized scale)."""
    k = flow.E
    u = torch.full_like(x, 0.5)
    ll = node_log_lik(flow, x.expand(k, -1, -1), u.expand(k, -1, -1), disc_step, interval).double()
    w = val_weights.double()[..., None]
    return ((ll * w).sum(1) / w.sum(1)).numpy(), ll.numpy()


#: A node keeps its flow only where the held-out gain over its linear-Gaussian equation is
#: more than this many standard errors (the linearity check's ``departs``).
DEPARTURE_Z = 2.0


def gain_z(members: Members, x: Tensor, disc_step: Tensor, interval: tuple[Tensor, Tensor] | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out gain of each node's flow over its linear-Gaussian equation.

    Returns ``gain``, ``se`` and ``z``, each ``(d,)``: the gain in nats per row averaged over
    the members' held-out folds, its standard error over folds (over held-out rows for one
    member) and ``gain / se``.
    """
    flow_ll, flow_rows = _held_out_log_lik(members.flow, x, disc_step, members.val_weights, interval)
    lin_ll, lin_rows = _held_out_log_lik(members.linear, x, disc_step, members.val_weights, interval)
    gains = flow_ll - lin_ll                                             # (K, d)
    k = gains.shape[0]
    if k > 1:
        se = gains.std(0, ddof=1) / math.sqrt(k)
    else:
        w = members.val_weights.double().numpy()[0][:, None]             # (N, 1)
        diff = flow_rows[0] - lin_rows[0]
        mean = (diff * w).sum(0) / w.sum()
        var = ((diff - mean) ** 2 * w).sum(0) / (w.sum() - 1)
        se = np.sqrt(var / w.sum())
    gain = gains.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, gain / se, np.where(gain > 0, np.inf, 0.0))
    return gain, se, z


def linearity(members: Members, x: Tensor, disc_step: Tensor, variables, parents: dict,
              discrete, interval: tuple[Tensor, Tensor] | None, scale: np.ndarray) -> pd.DataFrame:
    """Cross-validated held-out log-likelihood per node: flow against its linear-Gaussian equation.

    For member ``m`` and node ``j``, the mean log-likelihood of the rows of fold ``m`` (which
    member ``m`` never trained on) under the member's flow and under the node's weighted OLS
    equation with Gaussian noise (interval masses for discrete nodes), in nats per row on the
    data's original units. ``gain`` is the flow's advantage averaged over folds, ``se`` its
    standard error over folds (over held-out rows with one member), ``z = gain / se``;
    ``departs`` is ``z >`` :data:`DEPARTURE_Z`. Nodes without parents are left out (their
    flows are unconditional marginals, not structural equations to test).
    """
    flow_ll, _ = _held_out_log_lik(members.flow, x, disc_step, members.val_weights, interval)
    lin_ll, _ = _held_out_log_lik(members.linear, x, disc_step, members.val_weights, interval)
    gain, se, z = gain_z(members, x, disc_step, interval)
    # log-densities of continuous nodes refer to the standardized scale: move them to data units.
    shift = np.where(np.asarray(discrete), 0.0, -np.log(np.asarray(scale, dtype=float)))
    rows = []
    for j, node in enumerate(variables):
        if parents[node]:
            rows.append(dict(node=node, parents=" + ".join(parents[node]), discrete=bool(discrete[j]),
                             flow_loglik=float(flow_ll[:, j].mean() + shift[j]),
                             linear_loglik=float(lin_ll[:, j].mean() + shift[j]),
                             gain=float(gain[j]), se=float(se[j]), z=float(z[j]),
                             departs=bool(z[j] > DEPARTURE_Z)))
    return pd.DataFrame(rows, columns=[c for c in LINEARITY_COLUMNS if c != "equation"])


def linearize(flow: NodeFlows, linear: NodeFlows, choose) -> None:
    """Replace node equations by the members' linear-Gaussian ones, in place.

    ``choose``: node indices (every member) or a ``(K, d)`` boolean array (per member).
    """
    mask = np.zeros((flow.E, flow.d), dtype=bool)
    if np.asarray(choose).dtype == bool and np.ndim(choose) == 2:
        mask[:] = np.asarray(choose)
    else:
        mask[:, list(choose)] = True
    m = torch.as_tensor(mask)
    with torch.no_grad():
        flow.weight[m] = linear.weight[m]
        flow.bias[m] = linear.bias[m]
        flow.log_scale[m] = linear.log_scale[m]
        flow.w_out[m] = 0.0
        flow.b_out[m] = 0.0
