"""Nonparametric bootstrap of the whole flow pipeline, trained as one batched ensemble.

Replicate ``r`` resamples the fitted rows with multinomial counts ``w_r``
(the weighted likelihood ``sum_i w_ri log p(v_i)`` is the likelihood of the
resample). All replicates are trained together: every parameter of
:class:`~medflow.flow.NodeFlows` has a leading ensemble dimension, each
member gets its own weights, gradient clipping and early stopping, so
``R`` refits cost about one batched training run.

Each member is warm-started from the fitted model with its linear SEM part
moved by the replicate's OLS shift (``OLS_r - OLS_fit``), then fine-tuned. One extra
member with unit weights is fine-tuned the same way; its drift from the fitted model is
removed from the replicates before intervals are taken.
Replicates can be trained in chunks through joblib (``n_jobs``, or any
joblib backend such as Dask or Ray registered by the caller), so a cluster
can share the work::

    from joblib import parallel_config
    with parallel_config(backend="dask"):
        fit.effects("X", "Y", mediators=["W"], n_boot=200, boot_options={"chunks": 8})
"""

from __future__ import annotations

import numpy as np
import torch
from joblib import Parallel, delayed
from torch import Tensor

from medflow.flow import NodeFlows
from medflow.training import TrainSettings, fit_linear_part, train

__all__ = ["bootstrap_ensemble", "bootstrap_weights"]


def bootstrap_weights(n: int, n_boot: int, seed: int) -> Tensor:
    """Multinomial resampling counts ``(n_boot, n)``; each row sums to ``n``."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return torch.as_tensor(counts, dtype=torch.float64)


def bootstrap_ensemble(fit, n_boot: int, seed: int = 0, *, epochs: int = 40, patience: int = 5,
                       lr: float | None = None, batch_size: int = 1024, chunks: int = 1,
                       n_jobs: int | None = None, verbose: bool = True) -> tuple[NodeFlows, Tensor]:
    """Refit ``fit`` on ``n_boot`` resamples; returns the ensemble and its ``(n_boot + 1, N)`` weights.

    The last member is a control fine-tuned on the full data (unit weights): effect queries
    subtract its drift from the fitted model so that intervals are centred on what the
    resampling, not the extra training, changes.

    Results are cached on ``fit`` per ``(n_boot, seed, settings)`` so several effect queries
    share one bootstrap.

    Args:
        fit: a fitted :class:`~medflow.model.FittedFlow`.
        n_boot: number of replicates.
        seed: seeds the resampling and the fine-tuning.
        epochs, patience, lr, batch_size: fine-tuning settings (lr defaults to half the fit's).
        chunks: split the replicates into this many ensembles (trained through joblib).
        n_jobs: joblib workers for the chunks (default: the active joblib configuration).
        verbose: progress bar.
    """
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be at least 2 for bootstrap intervals, got {n_boot}.")
    if not 1 <= int(chunks) <= int(n_boot):
        raise ValueError(f"chunks must be between 1 and n_boot, got {chunks}.")
    base_lr = fit.fit_info.get("settings", {}).get("lr", 5e-3)
    key = (int(n_boot), int(seed), epochs, patience, lr, batch_size, int(chunks))
    cache = fit.__dict__.setdefault("_bootstrap_cache", {})
    if key in cache:
        return cache[key]

    x = fit._to_tensor(fit.data.to_numpy())
    n = x.shape[0]
    # n_boot resamples and one control member on the full data (see effects._recentred).
    weights = torch.cat([bootstrap_weights(n, int(n_boot), seed), torch.ones(1, n, dtype=torch.float64)])
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr or base_lr / 2,
                             weight_decay=fit.fit_info.get("settings", {}).get("weight_decay", 1e-4),
                             patience=patience)
    parts = np.array_split(np.arange(int(n_boot) + 1), int(chunks))
    # Workers get plain tensors and settings only (no fitted-model object to pickle).
    interval = fit._bounds() if fit.fit_info.get("discrete_likelihood") == "interval" else None
    shared = dict(flow=fit._require_fitted(), mask=fit.mask, step=fit.disc_step, x=x,
                  settings=settings, interval=interval,
                  val_fraction=fit.fit_info.get("val_fraction", 0.1))
    jobs = (delayed(_train_chunk)(weights=weights[idx], seed=seed * 7919 + k,
                                  verbose=verbose and k == 0, **shared)
            for k, idx in enumerate(parts))
    flows = Parallel(n_jobs=n_jobs)(jobs) if chunks > 1 else [f(*a, **kw) for f, a, kw in jobs]
    ensemble = _concat(flows)
    cache[key] = (ensemble, weights)
    return ensemble, weights


def _train_chunk(flow: NodeFlows, mask: Tensor, step: Tensor, x: Tensor, weights: Tensor,
                 settings: TrainSettings, seed: int, verbose: bool, val_fraction: float,
                 interval: tuple[Tensor, Tensor] | None) -> NodeFlows:
    gen = torch.Generator().manual_seed(int(seed))
    E, n = weights.shape
    ens = NodeFlows.replicate(flow, E)
    mid = x + 0.5 * step
    w0, b0, s0 = fit_linear_part(x, mid, mask, step)
    shift_w, shift_b, shift_s = [], [], []
    for r in range(E):
        # Weighted OLS = OLS on the resample: repeat rows by their counts.
        rows = torch.repeat_interleave(torch.arange(n), weights[r].long())
        w, b, s = fit_linear_part(x[rows], mid[rows], mask, step)
        shift_w.append(w - w0), shift_b.append(b - b0), shift_s.append(s - s0)
    with torch.no_grad():
        ens.weight.add_(torch.stack(shift_w) * mask)
        ens.bias.add_(torch.stack(shift_b))
        ens.log_scale.add_(torch.stack(shift_s))
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, int(round(val_fraction * n)))
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    train(ens, x, step, train_idx, val_idx, settings, gen, weights=weights.to(x.dtype),
          verbose=verbose, desc=f"bootstrap ({E} refits)", interval=interval)
    return ens


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
