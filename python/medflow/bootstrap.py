"""Nonparametric bootstrap of the whole flow pipeline, trained as one batched ensemble.

Replicate ``r`` resamples the fitted rows with multinomial counts ``w_r``
(the weighted likelihood ``sum_i w_ri log p(v_i)`` is the likelihood of the
resample). All replicates are trained together: every parameter of
:class:`~medflow.flow.NodeFlows` has a leading ensemble dimension, each
member gets its own weights, gradient clipping and early stopping, so ``R``
refits run as one training loop. On a GPU the members share kernels; on a CPU a member
costs about what a separate fit of the same length does (benchmarks/results/README.md),
and the speed comes from warm starts (10 epochs instead of a fit's 60) and from chunks
on several workers.

Each member is warm-started from the fitted model with its linear SEM part
moved by the replicate's OLS shift (``OLS_r - OLS_fit``), then fine-tuned. Every chunk
of replicates (below) gets one extra member with unit weights, fine-tuned the same way
on the same minibatches; its drift from the fitted model is removed from that chunk's
replicates before intervals are taken.
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
from medflow.training import LARGE_DATA_ROWS, TrainSettings, fit_linear_part, train

__all__ = ["bootstrap_ensemble", "bootstrap_weights", "replicates", "resolve_start"]


#: Fine-tuning epochs of a warm-started bootstrap replicate (``boot_options={"epochs": ...}``).
WARM_EPOCHS = 10


#: ``start="auto"`` refits cold (from scratch) below this many rows, warm from there on
#: (where the command line switches to its large-data settings).
COLD_BELOW = LARGE_DATA_ROWS


def resolve_start(start: str, n: int) -> str:
    """``"warm"`` or ``"cold"`` for a bootstrap of ``n`` rows (``"auto"``: cold below :data:`COLD_BELOW`).

    Example:
        >>> resolve_start("auto", 2000), resolve_start("auto", 20700), resolve_start("warm", 2000)
        ('cold', 'warm', 'warm')
    """
    return ("cold" if n < COLD_BELOW else "warm") if start == "auto" else start


def bootstrap_weights(n: int, n_boot: int, seed: int) -> Tensor:
    """Multinomial resampling counts ``(n_boot, n)``; each row sums to ``n``."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return torch.as_tensor(counts, dtype=torch.float64)


def bootstrap_ensemble(fit, n_boot: int, seed: int = 0, *, start: str = "auto", epochs: int | None = None,
                       patience: int | None = None, lr: float | None = None,
                       batch_size: int | None = None, chunks: int = 1, n_jobs: int | None = None,
                       verbose: bool = True) -> tuple[NodeFlows, Tensor]:
    """Refit ``fit`` on ``n_boot`` resamples; returns the ensemble and its ``(E, N)`` weights.

    ``start="warm"`` (fast): every replicate starts from the fitted flow, its linear
    part moved to the resample's OLS, and is fine-tuned briefly. Each chunk ends with a
    control member fine-tuned the same way, on the same minibatches, on the full data (unit
    weights): effect queries subtract its drift from the fitted model from the chunk's
    replicates, so that intervals are centred on what the resampling, not the extra training
    or the chunk's minibatch order, changes. Warm starts share the fitted flow's own
    optimisation noise, so they understate the estimator's variance on small data
    (benchmarks/results/README.md). ``E = n_boot + chunks``.

    ``start="cold"`` (the whole pipeline, as slow as ``n_boot`` fits): every replicate is a
    fresh fit of its resample, with its own random initial weights and the fit's training
    settings; there are no control members (``E = n_boot``).

    ``start="auto"`` (default): cold below :data:`COLD_BELOW` rows, where fits are cheap and
    warm intervals measurably too narrow (90% intervals covered the truth in 50-80% of
    simulated data sets at N = 2,000, cold ones in 80-100%), warm from there on.

    The ensemble's ``control_of`` attribute gives, for each member, the index of the control
    member its replicates are re-centred on (a control's is its own index; ``-1`` for no
    control); :func:`replicates` applies it. ``histories`` holds each chunk's training
    history (:func:`medflow.training.train`; its ``members`` column counts the members
    still training per epoch).

    Results are cached on ``fit`` per ``(n_boot, seed, settings)`` so several effect queries
    share one bootstrap.

    Args:
        fit: a fitted :class:`~medflow.model.FittedFlow`.
        n_boot: number of replicates.
        seed: seeds the resampling and the training.
        start: ``"auto"``, ``"warm"`` or ``"cold"`` (see above).
        epochs, patience, lr, batch_size: training settings. Warm defaults: 10 epochs run to
            the end of their cosine schedule (patience = epochs), starting from half the fit's
            learning rate, the fit's batch size; cold defaults: the fit's settings.
        chunks: split the replicates into this many ensembles (trained through joblib).
        n_jobs: joblib workers for the chunks (default: the active joblib configuration).
        verbose: progress bar.
    """
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be at least 2 for bootstrap intervals, got {n_boot}.")
    if not 1 <= int(chunks) <= int(n_boot):
        raise ValueError(f"chunks must be between 1 and n_boot, got {chunks}.")
    if start not in ("auto", "warm", "cold"):
        raise ValueError(f"start must be 'auto', 'warm' or 'cold', got {start!r}.")
    start = resolve_start(start, len(fit.data))
    key = (int(n_boot), int(seed), start, epochs, patience, lr, batch_size, int(chunks))
    cache = fit.__dict__.setdefault("_bootstrap_cache", {})
    if key in cache:
        return cache[key]

    x = fit._to_tensor(fit.data.to_numpy())
    n = x.shape[0]
    cold = start == "cold"
    resampled = bootstrap_weights(n, int(n_boot), seed)
    # Each warm chunk: its resamples, then a control member on the full data (see replicates()).
    control = torch.ones(0 if cold else 1, n, dtype=torch.float64)
    chunk_weights = [torch.cat([resampled[idx], control])
                     for idx in np.array_split(np.arange(int(n_boot)), int(chunks))]
    base = {**vars(TrainSettings()), **fit.fit_info.get("settings", {})}  # the fit's settings
    # Warm fine-tuning runs its short cosine schedule to the end: an early stop at a still high
    # learning rate leaves a replicate (and the control) wherever the last large step put it,
    # and the intervals then measure the step size instead of the resampling
    # (benchmarks/results/README.md, "200-replicate bootstrap").
    epochs = epochs or (base["epochs"] if cold else WARM_EPOCHS)
    settings = TrainSettings(
        epochs=epochs,
        batch_size=batch_size or base["batch_size"],
        lr=lr or (base["lr"] if cold else base["lr"] / 2),
        weight_decay=base["weight_decay"],
        patience=patience or (base["patience"] if cold else epochs))
    # Workers get plain tensors and settings only (no fitted-model object to pickle).
    interval = fit._bounds() if fit.fit_info.get("discrete_likelihood") == "interval" else None
    shared = dict(flow=fit._require_fitted(), mask=fit.mask, step=fit.disc_step, x=x,
                  settings=settings, interval=interval,
                  val_fraction=fit.fit_info.get("val_fraction", 0.1), device=str(fit.device), cold=cold)
    jobs = (delayed(_train_chunk)(weights=w, seed=seed * 7919 + k, verbose=verbose and k == 0, **shared)
            for k, w in enumerate(chunk_weights))
    flows = Parallel(n_jobs=n_jobs)(jobs) if chunks > 1 else [f(*a, **kw) for f, a, kw in jobs]
    ensemble = _concat(flows)
    control_of, end = [], 0
    for w in chunk_weights:
        end += len(w)
        control_of += [-1 if cold else end - 1] * len(w)
    ensemble.control_of = np.array(control_of)
    ensemble.histories = [getattr(f, "history", None) for f in flows]  # one per chunk
    weights = torch.cat(chunk_weights)
    cache[key] = (ensemble, weights)
    return ensemble, weights


def replicates(values: np.ndarray, control_of: np.ndarray, point: float) -> np.ndarray:
    """The ``n_boot`` bootstrap replicates of an estimate from its ``values`` on every member
    (first axis; ``point`` broadcasts against the others).

    A warm-started replicate is re-centred on its chunk's control member: ``value -
    (value[control] - point)``, which removes the drift that fine-tuning on that chunk's
    minibatches gives the fitted model, so that only the resampling moves the replicates.
    Control members are dropped; cold refits (``control_of == -1``) are returned as they are.

    Example:
        >>> replicates(np.array([1.0, 3.0, 2.5, 5.0]), np.array([1, 1, 3, 3]), point=2.0).tolist()
        [0.0, -0.5]
    """
    values, control_of = np.asarray(values), np.asarray(control_of)
    is_control = control_of == np.arange(len(control_of))
    reps, ctrl = values[~is_control], control_of[~is_control]
    has = (ctrl >= 0).reshape(-1, *[1] * (values.ndim - 1))
    drift = np.where(has, values[np.maximum(ctrl, 0)] - np.asarray(point), 0.0)
    return reps - drift


def _train_chunk(flow: NodeFlows, mask: Tensor, step: Tensor, x: Tensor, weights: Tensor,
                 settings: TrainSettings, seed: int, verbose: bool, val_fraction: float,
                 interval: tuple[Tensor, Tensor] | None, device: str = "cpu",
                 cold: bool = False) -> NodeFlows:
    gen = torch.Generator().manual_seed(int(seed))
    E, n = weights.shape
    ens = (NodeFlows(mask, ensemble=E, generator=gen, dtype=flow.mask.dtype, **flow.config) if cold
           else NodeFlows.replicate(flow, E))
    mid = x + 0.5 * step
    w0, b0, s0 = fit_linear_part(x, mid, mask, step)
    shift_w, shift_b, shift_s = [], [], []
    for r in range(E):
        # Weighted OLS = OLS on the resample: repeat rows by their counts.
        rows = torch.repeat_interleave(torch.arange(n), weights[r].long())
        w, b, s = fit_linear_part(x[rows], mid[rows], mask, step)
        shift_w.append(w - w0), shift_b.append(b - b0), shift_s.append(s - s0)
    with torch.no_grad():
        if cold:  # each replicate starts from its own resample's OLS
            ens.weight.copy_((w0 + torch.stack(shift_w)) * mask)
            ens.bias.copy_(b0 + torch.stack(shift_b))
            ens.log_scale.copy_(s0 + torch.stack(shift_s))
        else:     # the fitted flow, its linear part moved by the resample's OLS shift
            ens.weight.add_(torch.stack(shift_w) * mask)
            ens.bias.add_(torch.stack(shift_b))
            ens.log_scale.add_(torch.stack(shift_s))
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, int(round(val_fraction * n)))
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    # Trained on the fit's device (the random draws stay on the CPU generator), returned on the CPU.
    dev = torch.device(device)
    ens.to(dev)
    ens.history = train(ens, x.to(dev), step.to(dev), train_idx, val_idx, settings, gen,
                        weights=weights.to(dtype=x.dtype, device=dev), verbose=verbose,
                        desc=f"bootstrap, {E if cold else E - 1} replicates fitted together",
                        interval=None if interval is None else tuple(b.to(dev) for b in interval))
    return ens.cpu()


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
