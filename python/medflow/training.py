"""Maximum-likelihood training of a :class:`~medflow.flow.NodeFlows` ensemble.

One loop trains a single flow (the fit) or ``E`` flows at once (the
bootstrap: each member sees the same minibatches with its own resampling
weights, so ``E`` refits run as one loop of batched tensor operations).
AdamW, cosine learning-rate decay, per-member gradient clipping, and
per-member early stopping on the validation negative log-likelihood with the
best weights restored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from medflow.progress import progress_bar

from medflow.flow import NodeFlows

__all__ = ["TrainSettings", "train", "fit_linear_part", "log_interval_mass", "LARGE_DATA_SETTINGS",
           "LARGE_DATA_FLOW", "LARGE_DATA_ROWS"]


#: Rows from which data count as large: the command line switches to
#: :data:`LARGE_DATA_SETTINGS` and :data:`LARGE_DATA_FLOW`, the bootstrap to warm starts.
LARGE_DATA_ROWS = 10_000

#: Training settings for large data, used by the command line from 10,000 rows on
#: (benchmarks/results/README.md, "Training settings"). On the bundled Blau-Duncan data
#: (N = 20,700, SEI scores on 97 integer values) the default small steps stop about
#: 0.01 nats/row short of the likelihood's optimum and the total effect comes out
#: 0.03-0.05 SD(Y) too large; these settings, with ``hidden=16`` conditioners
#: (:data:`LARGE_DATA_FLOW`), reach lower held-out NLL in 60 epochs (10-17 s on one
#: core) and put the bundled data's TE, NDE and NIE within 0.027 SD(Y) of the truth
#: (fit seed 0). They run all 60 epochs and keep the best validation epoch: with an
#: earlier stop (patience 15) one fit stopped at epoch 28, still at a high learning rate,
#: with its total effect 0.036 SD(Y) off instead of 0.013.
#: On linear-Gaussian data they let the flow drift further from the linear SEM (one
#: seed: error 0.037 SD(Y) vs 0.009 with the defaults), so they are not the defaults.
LARGE_DATA_SETTINGS = dict(epochs=60, batch_size=4096, lr=3e-2, patience=60)
#: Flow architecture that goes with :data:`LARGE_DATA_SETTINGS` (``CausalFlow(..., **LARGE_DATA_FLOW)``).
LARGE_DATA_FLOW = dict(hidden=16)


@dataclass
class TrainSettings:
    """Optimisation settings for :func:`train` (all have sensible defaults)."""

    epochs: int = 200
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 10
    grad_clip: float = 5.0
    min_lr_ratio: float = 0.05

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}.")


def fit_linear_part(x: Tensor, v_mid: Tensor, mask: Tensor, disc_step: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """OLS of each node on its parents (standardized scale): the flow's starting point.

    Args:
        x: ``(N, d)`` conditioning values; v_mid: ``(N, d)`` node values (interval midpoints
        for discrete nodes); mask: parent mask; disc_step: ``(d,)`` width of one integer step
        on the standardized scale (0 for continuous nodes).

    Returns:
        ``weight (d, d)``, ``bias (d,)`` and ``log_scale (d,)`` of the dequantized residual.
    """
    n, d = x.shape
    X = x.double().numpy()
    V = v_mid.double().numpy()
    weight = np.zeros((d, d))
    bias = np.zeros(d)
    log_scale = np.zeros(d)
    for j in range(d):
        pa = np.flatnonzero(mask[j].numpy())
        design = np.column_stack([np.ones(n), X[:, pa]])
        coef, *_ = np.linalg.lstsq(design, V[:, j], rcond=None)
        resid = V[:, j] - design @ coef
        var = resid.var() + float(disc_step[j]) ** 2 / 12.0
        bias[j], weight[j, pa], log_scale[j] = coef[0], coef[1:], 0.5 * math.log(var)
    as_t = lambda a: torch.as_tensor(a, dtype=x.dtype)  # noqa: E731
    return as_t(weight), as_t(bias), as_t(log_scale)


def _nll(flow: NodeFlows, x: Tensor, u: Tensor, disc_step: Tensor,
         noise_log_prob: Callable[[Tensor], Tensor] | None = None,
         interval: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Per-member, per-row negative log-likelihood ``(E, B)``.

    Discrete nodes are dequantized with ``u`` unless ``interval`` = (lowest, highest observed
    value, standardized) is given: then each discrete value contributes its exact probability
    mass ``Phi(T(k + 1)) - Phi(T(k))`` under the monotone threshold model (the lowest and
    highest values take the tails). ``noise_log_prob`` maps the noise ``(E, B, d)`` to its
    joint log-density ``(E, B)``; by default the noises are independent standard normals.
    """
    if interval is not None and noise_log_prob is None:
        disc = torch.nonzero(disc_step > 0).flatten()
        (eps, ladj), (hi, _) = flow.transform((x, x + disc_step), x)
        dens = (-0.5 * eps**2 - _HALF_LOG_2PI + ladj) * (disc_step == 0)
        xd, lo_d, hi_d = x[..., disc], eps[..., disc], hi[..., disc]
        lower, upper = interval[0][disc], interval[1][disc]
        tol = 1e-4 * disc_step[disc]
        lo_d = torch.where(xd <= lower + tol, -torch.inf, lo_d)
        hi_d = torch.where(xd >= upper - tol, torch.inf, hi_d)
        return -(dens.sum(-1) + log_interval_mass(lo_d, hi_d).sum(-1))
    v = x + u * disc_step
    if noise_log_prob is None:
        return -flow.log_prob(v, x).sum(-1)
    eps, ladj = flow(v, x)
    return -(noise_log_prob(eps) + ladj.sum(-1))


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def log_interval_mass(lo: Tensor, hi: Tensor) -> Tensor:
    """``log(Phi(hi) - Phi(lo))`` for ``lo < hi`` (either may be infinite), stable in both tails."""
    flip = lo > 0
    a = torch.where(flip, -hi, lo)
    b = torch.where(flip, -lo, hi)
    la, lb = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
    return lb + torch.log1p(-torch.exp((la - lb).clamp(max=-1e-12)))


def train(
    flow: NodeFlows,
    x: Tensor,
    disc_step: Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    settings: TrainSettings,
    generator: torch.Generator,
    weights: Tensor | None = None,
    verbose: bool = True,
    desc: str = "fitting flow",
    noise_log_prob: Callable[[Tensor], Tensor] | None = None,
    interval: tuple[Tensor, Tensor] | None = None,
) -> pd.DataFrame:
    """Train ``flow`` in place; returns the history (epoch, train_nll, val_nll, lr, members).

    ``members`` is the number of ensemble members still training in that epoch (the others
    have early-stopped); ``train_nll`` and ``val_nll`` average over those members.

    Args:
        flow: the ensemble to train (``E`` members).
        x: ``(N, d)`` standardized data (integer-valued columns on their standardized grid).
        disc_step: ``(d,)`` standardized width of one integer step (0 for continuous nodes).
        train_idx, val_idx: row indices of the training and validation parts.
        settings: optimisation settings.
        generator: source of all randomness (minibatch order, dequantization).
        weights: optional ``(E, N)`` row weights per member (bootstrap counts).
        verbose: show a tqdm progress bar.
        desc: label of the progress bar.
        interval: standardized (lowest, highest) observed values per node: train discrete
            nodes on their exact interval mass instead of dequantization (see ``_nll``).
        noise_log_prob: optional joint log-density of the noise, ``(E, B, d) -> (E, B)``, that
            replaces the independent standard-normal term (e.g. the Gaussian copula of
            :mod:`medflow.sensitivity`); ``None`` keeps the independent-noise likelihood.

    Raises:
        FloatingPointError: when the loss becomes NaN or infinite.
    """
    E, device = flow.E, x.device
    if weights is None:
        weights = torch.ones(E, x.shape[0], dtype=x.dtype, device=device)
    params = [p for p in flow.parameters() if p.requires_grad]
    # Weight decay shrinks the conditioner MLPs (the nonlinear corrections) towards zero, i.e.
    # the flow towards its linear SEM part; the linear part itself is not shrunk.
    linear = {"weight", "bias", "log_scale"}
    groups = [
        dict(params=[p for k, p in flow.named_parameters() if p.requires_grad and k in linear],
             weight_decay=0.0),
        dict(params=[p for k, p in flow.named_parameters() if p.requires_grad and k not in linear],
             weight_decay=settings.weight_decay),
    ]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=settings.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=settings.epochs, eta_min=settings.lr * settings.min_lr_ratio)

    x_val = x[val_idx]
    w_val = weights[:, val_idx]
    u_val = torch.rand(x_val.shape, generator=generator, dtype=x.dtype).to(device)
    tr = torch.as_tensor(train_idx, device=device)
    n_train = len(train_idx)

    best = torch.full((E,), math.inf, dtype=torch.float64)
    best_state = {k: v.detach().clone() for k, v in flow.state_dict().items()}
    stale = torch.zeros(E, dtype=torch.long)
    # Members that have early-stopped leave the batched ensemble (their best weights are kept),
    # so an ensemble costs what its members would cost one after another. Not with a custom
    # noise density: it may hold per-member parameters of its own.
    ids = torch.arange(E)                         # member behind each current position
    repack = noise_log_prob is None
    rows = []
    # No tqdm object at all when quiet: tqdm creates a multiprocessing lock on first use,
    # which fails inside joblib/loky worker processes on Python 3.11.7.
    bar = progress_bar(settings.epochs, desc, verbose, unit="epoch")  # None off a terminal
    for epoch in range(settings.epochs):
        flow.train()
        perm = tr[torch.randperm(n_train, generator=generator).to(device)]
        total, count = 0.0, 0.0
        for start in range(0, n_train, settings.batch_size):
            idx = perm[start:start + settings.batch_size]
            xb = x[idx]
            ub = torch.rand(xb.shape, generator=generator, dtype=x.dtype).to(device)
            wb = weights[:, idx]
            nll = _nll(flow, xb.expand(E, -1, -1), ub.expand(E, -1, -1), disc_step, noise_log_prob,
                       interval)
            wsum = wb.sum(1).clamp(min=1e-12)
            loss_e = (nll * wb).sum(1) / wsum
            loss = loss_e.sum()
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"Training diverged: the loss became {loss.item()} in epoch {epoch + 1}. Try a "
                    f"smaller learning rate (lr={settings.lr / 5:g}), fewer hidden units, or check "
                    "the data for extreme outliers.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            _clip_per_member(params, E, settings.grad_clip)
            opt.step()
            total += float(loss_e.detach().mean()) * len(idx)
            count += len(idx)
        sched.step()
        flow.eval()
        with torch.no_grad():
            nll_val = _nll(flow, x_val.expand(E, -1, -1), u_val.expand(E, -1, -1), disc_step,
                           noise_log_prob, interval)
            val_e = ((nll_val * w_val).sum(1) / w_val.sum(1).clamp(min=1e-12)).double().cpu()
        if not torch.isfinite(val_e).all():
            raise FloatingPointError(
                f"The validation loss became non-finite in epoch {epoch + 1}. Try a smaller learning "
                f"rate (lr={settings.lr / 5:g}) or check the data for extreme outliers.")
        improved = val_e < best[ids] - 1e-6
        best[ids] = torch.where(improved, val_e, best[ids])
        stale[ids] = torch.where(improved, torch.zeros_like(improved, dtype=torch.long), stale[ids] + 1)
        if improved.any():
            _store(best_state, flow, improved, ids)
        rows.append((epoch + 1, total / count, float(val_e.mean()), sched.get_last_lr()[0], E))
        if bar is not None:
            bar.update()
            bar.set_postfix(train=f"{total / count:.4f}", val=f"{float(val_e.mean()):.4f}")
        done = stale[ids] >= settings.patience
        if bool(done.all()):
            break
        if repack and bool(done.any()):
            keep = torch.nonzero(~done).flatten()
            params = _keep_members(flow, opt, keep.to(device))
            weights, w_val, ids, E = weights[keep.to(device)], w_val[keep.to(device)], ids[keep], len(keep)
    if bar is not None:
        bar.close()
    if flow.E != len(best):  # every member back, each with its best weights
        _keep_members(flow, opt, torch.zeros(len(best), dtype=torch.long, device=device))
    flow.load_state_dict(best_state)
    return pd.DataFrame(rows, columns=["epoch", "train_nll", "val_nll", "lr", "members"])


def _clip_per_member(params: list[Tensor], E: int, max_norm: float) -> None:
    sq = torch.zeros(E, dtype=params[0].dtype, device=params[0].device)
    for p in params:
        if p.grad is not None:
            sq = sq + p.grad.reshape(E, -1).pow(2).sum(1)
    factor = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for p in params:
        if p.grad is not None:
            p.grad.mul_(factor.reshape(E, *([1] * (p.dim() - 1))))


def _store(state: dict, flow: NodeFlows, improved: Tensor, ids: Tensor) -> None:
    """Copy the current members flagged in ``improved`` into ``state`` at their member
    indices ``ids[improved]`` (the ensemble dimension is first)."""
    for k, v in flow.state_dict().items():
        if k == "mask":
            continue
        state[k][ids[improved]] = v.detach()[improved.to(v.device)].to(state[k].device)


def _keep_members(flow: NodeFlows, opt: torch.optim.Optimizer, keep: Tensor) -> list[Tensor]:
    """Replace every parameter (trained or frozen) by its members ``keep``, carrying over the
    AdamW moments (``exp_avg``, ``exp_avg_sq``; the scalar ``step`` as it is). Returns the new
    trainable parameters in the order of ``flow.parameters()``."""
    new_of = {}
    for module in flow.modules():
        for name, old in list(module._parameters.items()):
            if old is None:
                continue
            new = torch.nn.Parameter(old.detach()[keep].clone(), requires_grad=old.requires_grad)
            module._parameters[name] = new
            new_of[old] = new
    for group in opt.param_groups:
        group["params"] = [new_of[p] for p in group["params"]]
    for old, new in new_of.items():
        state = opt.state.pop(old, None)
        if state:
            opt.state[new] = {k: v[keep] if torch.is_tensor(v) and v.dim() > 0 else v
                              for k, v in state.items()}
    flow.E = len(keep)
    return [p for p in flow.parameters() if p.requires_grad]
