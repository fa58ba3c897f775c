"""Nonparametric bootstrap of the whole fitting procedure, trained as batched ensembles.

Replicate ``r`` resamples the fitted rows with multinomial counts ``c_r``
(the weighted likelihood ``sum_i c_ri log p(v_i)`` is the likelihood of the
resample) and repeats the fit's procedure on it (:mod:`medflow.crossfit`):
a fresh flow with its own random initial weights, started from the
resample's OLS, trained with the fit's settings on the resample's rows
outside one fold and keeping its best epoch (or averaged weights) on that fold, with the fit's
linear equations (the linearity check is not repeated: see
:func:`bootstrap_ensemble`). Folds are drawn over the resample's distinct
rows, so copies of a row never sit on both sides.

A replicate averages fewer members than the fit's ``K`` (one, or two below
5,000 rows where a member is cheap; ``members=`` sets it): its optimiser noise
is less averaged away, so the replicates vary more than the point estimate's
optimiser noise alone would make them. The intervals use the replicates as they
are (:func:`medflow.estimands.replicate_means`): that extra noise is a margin,
and removing it made the intervals under-cover, because the rest of the
replicates' spread is not this estimator's sampling variance (measured in
``benchmarks/results/README.md``). Nothing is warm-started from the full-data
fit, so no replicate inherits it.

All replicates of a chunk are trained together (every parameter of
:class:`~medflow.flow.NodeFlows` has a leading ensemble dimension, each member
has its own weights, gradient clipping and early stopping). Chunks run through
joblib (``n_jobs``, or any joblib backend such as Dask or Ray registered by the
caller), so a cluster can share the work::

    from joblib import parallel_config
    with parallel_config(backend="dask"):
        fit.effects("X", "Y", mediators=["W"], n_boot=200, boot_options={"chunks": 8})
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from joblib import Parallel, delayed
from torch import Tensor

from medflow.crossfit import assign_folds, linearize, member_weights, train_members
from medflow.flow import NodeFlows
from medflow.progress import progress_bar
from medflow.training import SMALL_DATA_ROWS, TrainSettings

__all__ = ["bootstrap_ensemble", "bootstrap_weights", "default_members"]


def default_members(n: int) -> int:
    """Members per bootstrap replicate for ``n`` rows: two below
    :data:`~medflow.training.SMALL_DATA_ROWS` (where a member is cheap and the optimiser's
    noise large, averaging two keeps the replicates' extra noise moderate), else one. The
    coverage studies behind the intervals used these numbers.

    Example:
        >>> default_members(2000), default_members(20700)
        (2, 1)
    """
    return 2 if int(n) < SMALL_DATA_ROWS else 1


def bootstrap_weights(n: int, n_boot: int, seed: int) -> Tensor:
    """Multinomial resampling counts ``(n_boot, n)``; each row sums to ``n``.

    Example:
        >>> w = bootstrap_weights(5, 3, seed=0); tuple(w.shape), w.sum(1).tolist()
        ((3, 5), [5.0, 5.0, 5.0])
    """
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return torch.as_tensor(counts, dtype=torch.float64)


def bootstrap_ensemble(fit, n_boot: int, seed: int = 0, *, members: int | None = None, chunks: int = 1,
                       n_jobs: int | None = None, verbose: bool = True) -> tuple[NodeFlows, Tensor]:
    """Refit ``fit``'s procedure on ``n_boot`` resamples; returns the replicates and their
    resampling counts.

    Returns:
        A :class:`~medflow.flow.NodeFlows` with ``E = n_boot * members`` members (replicate
        ``r`` is members ``r * members`` to ``(r + 1) * members - 1``) and the ``(E, N)``
        counts (each replicate's repeated over its members). The ensemble's
        ``train_weights``/``val_weights`` attributes hold each member's training and
        held-out row weights (its counts split by its fold), ``linear_nodes`` the nodes each
        replicate made linear (the fit's) and ``histories`` each chunk's training history.
        Results are cached on ``fit`` per ``(n_boot, seed, members, chunks)`` so several effect
        queries share one bootstrap.

    The replicates keep the fit's linear equations rather than repeating the linearity check:
    the intervals are conditional on that choice. Re-chosen on a resample, whose duplicated rows
    lower a flow's held-out gain, the check made U linear in 28 of 50 replicates of a
    ``nonlinear`` data set at N = 2,000 where the fit's z was 4.9, and the intervals leaned
    toward the linear SEM.

    Args:
        fit: a fitted :class:`~medflow.model.FittedFlow`.
        n_boot: number of replicates.
        seed: seeds the resampling, the folds and the training.
        members: members per replicate (default :func:`default_members`; the fit's ``K``
            repeats its procedure exactly, at ``K`` times the cost).
        chunks: split the replicates into this many ensembles (trained through joblib).
        n_jobs: joblib workers for the chunks (default: the active joblib configuration).
        verbose: progress bar.
    """
    if members is None:
        members = default_members(len(fit.data))
    for name, value, low in (("n_boot", n_boot, 2), ("members", members, 1), ("chunks", chunks, 1)):
        if isinstance(value, bool) or not float(value).is_integer() or int(value) < low:
            raise ValueError(f"{name} must be a whole number of at least {low}, got {value!r}.")
    n_boot, members, chunks = int(n_boot), int(members), int(chunks)
    if chunks > n_boot:
        raise ValueError(f"chunks must be between 1 and n_boot ({n_boot}), got {chunks}.")
    key = (n_boot, int(seed), members, chunks)
    cache = fit.__dict__.setdefault("_bootstrap_cache", {})
    if key in cache:
        return cache[key]

    data = fit.data.to_numpy()
    x = fit._to_tensor(data)
    n = x.shape[0]
    counts = bootstrap_weights(n, n_boot, seed).repeat_interleave(members, dim=0)
    info = fit.fit_info
    # (fits saved before weight averaging existed did not average)
    settings = TrainSettings(**{"average": 0.0, **info["settings"], "members": members})
    # The fit's choice of linear equations is kept: re-chosen on a resample, whose duplicated
    # rows lower the flows' held-out gain, it made nodes linear that the data clearly show to be
    # nonlinear (benchmarks/results/README.md) and pulled the replicates toward the linear SEM.
    fixed_linear = [fit.variables.index(v) for v in info.get("linear_nodes", [])]
    interval = fit._bounds() if info.get("discrete_likelihood", "interval") == "interval" else None
    # Workers get plain tensors and settings only (no fitted-model object to pickle).
    shared = dict(x=x, mask=fit.mask, step=fit.disc_step, config=dict(fit.config), settings=settings,
                  folds=int(info.get("folds", 5)), members=members, interval=interval,
                  fixed_linear=fixed_linear, device=str(fit.device))
    parts = np.array_split(np.arange(n_boot), chunks)
    # One chunk: its training bar (epochs of the replicates fitted together). Several chunks:
    # a bar that counts replicates as chunks finish (joblib returns them in order).
    jobs = [delayed(_train_chunk)(counts=counts[p[0] * members:(p[-1] + 1) * members],
                                  seed=int(seed) * 7919 + k, verbose=verbose and chunks == 1, **shared)
            for k, p in enumerate(parts)]
    if chunks == 1:
        flows = [job[0](*job[1], **job[2]) for job in jobs]
    else:
        bar = progress_bar(n_boot, "bootstrap", verbose, unit="replicate")
        flows = []
        for p, f in zip(parts, Parallel(n_jobs=n_jobs, return_as="generator")(jobs)):
            flows.append(f)
            if bar is not None:
                bar.update(len(p))
        if bar is not None:
            bar.close()
    ensemble = _concat(flows)
    ensemble.histories = [f.history for f in flows]  # one per chunk
    ensemble.linear_nodes = [row for f in flows for row in f.linear_nodes]
    ensemble.train_weights = torch.cat([f.train_weights for f in flows])
    ensemble.val_weights = torch.cat([f.val_weights for f in flows])
    cache[key] = (ensemble, counts)
    return ensemble, counts


def _train_chunk(x: Tensor, mask: Tensor, step: Tensor, config: dict, settings: TrainSettings,
                 counts: Tensor, folds: int, members: int, seed: int, verbose: bool,
                 interval: tuple[Tensor, Tensor] | None, fixed_linear: list[int],
                 device: str = "cpu") -> NodeFlows:
    """Train one chunk of replicates: per replicate, ``members`` members over folds of its
    distinct rows (member ``m`` of a replicate holds out fold ``m``)."""
    gen = torch.Generator().manual_seed(int(seed))
    E, n = counts.shape
    train_w, val_w, share = [], [], []
    for r in range(0, E, members):
        distinct = np.flatnonzero(counts[r].numpy() > 0)
        share.append(len(distinct) / n)
        fold = np.full(n, -1)
        fold[distinct] = assign_folds(len(distinct), folds, gen)
        tw, vw = member_weights(fold, folds, counts[r])
        train_w.append(tw[:members]), val_w.append(vw[:members])
    # A member steps through its resample's distinct rows (about 63 % of n), each weighted by
    # its count: minibatches of the same share of the fit's batch give every step the fit's
    # weight of rows and every epoch the fit's number of steps. With the fit's batch a
    # replicate took about 60 % of the fit's optimiser steps and stayed nearer its linear start.
    settings = replace(settings, batch_size=max(1, round(settings.batch_size * float(np.mean(share)))))
    fitted = train_members(x, step, mask, config, settings, torch.cat(train_w), torch.cat(val_w), gen,
                           interval=interval, device=device, verbose=verbose, grad_norm=False,
                           desc=f"bootstrap, {E // members} replicates fitted together")
    flow = fitted.flow
    choose = np.zeros((E, mask.shape[0]), dtype=bool)
    choose[:, fixed_linear] = True                 # the fit's linear equations, in every replicate
    linearize(flow, fitted.linear, choose)
    flow.history = fitted.history
    flow.train_weights, flow.val_weights = fitted.train_weights, fitted.val_weights
    flow.linear_nodes = [np.flatnonzero(row).tolist() for row in choose[::members]]
    return flow


def _concat(flows: list[NodeFlows]) -> NodeFlows:
    if len(flows) == 1:
        return flows[0]
    first = flows[0]
    total = sum(f.E for f in flows)
    out = NodeFlows(first.mask, ensemble=total, dtype=first.mask.dtype, **first.config)
    with torch.no_grad():
        for name, p in out.named_parameters():
            p.copy_(torch.cat([dict(f.named_parameters())[name] for f in flows]))
    return out
