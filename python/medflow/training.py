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
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from medflow.progress import progress_bar

from medflow.flow import NodeFlows
from medflow.ols import slopes_from_cov, weighted_moments

__all__ = ["TrainSettings", "train", "fit_linear_part", "node_log_lik", "log_interval_mass",
           "truncated_normal", "SMALL_DATA_ROWS", "STEPS_PER_EPOCH", "MAX_LR"]


#: Below this many rows the fit's ensemble has twice as many members (:meth:`TrainSettings.auto`).
SMALL_DATA_ROWS = 5_000
#: Minibatches per epoch and per member that :meth:`TrainSettings.auto` aims at.
STEPS_PER_EPOCH = 8
#: Largest learning rate accepted: AdamW moves every weight by about ``lr`` per step, and
#: above about 1 the flow's weights jump across the whole standardized scale each step.
MAX_LR = 1.0


@dataclass
class TrainSettings:
    """Settings of the fitting procedure; :meth:`auto` chooses them from the data.

    This is the one source of the fit's defaults: :meth:`medflow.model.CausalFlow.fit`,
    the bootstrap, the command line, the validation study and R's ``medflow()`` all start
    from :meth:`auto` and override only what the user gives.

    Attributes:
        members: flows in the cross-fitted ensemble (``K``; each leaves out one of ``K``
            folds; :mod:`medflow.crossfit`). ``1`` fits one flow with a fifth held out.
        epochs: passes over the training rows; the cosine learning-rate schedule spans them.
        batch_size: rows per minibatch.
        lr: AdamW learning rate at the start of the schedule.
        weight_decay: AdamW weight decay of the conditioner networks (the nonlinear part).
        patience: epochs without improvement of a member's held-out likelihood before it
            stops (``epochs``: every member runs the schedule to its end and keeps its best epoch).
        grad_clip: per-member gradient norm clip.
        min_lr_ratio: final learning rate as a share of ``lr``.
        average: share of the schedule, at its end, over which each member's weights are
            averaged step by step (Polyak-Ruppert averaging); a member keeps that average
            instead of its best epoch when the average predicts its held-out rows better.
            ``0`` turns averaging off. It takes no extra steps; on the bundled data it lowered
            the largest SD of the effects over ten fit seeds from 0.0072 to 0.0060 SD(Y) at
            four steps per epoch (``benchmarks/results/README.md``).
    """

    members: int = 5
    epochs: int = 40
    batch_size: int = 2048
    lr: float = 2e-2
    weight_decay: float = 1e-4
    patience: int = 40
    grad_clip: float = 5.0
    min_lr_ratio: float = 0.05
    average: float = 0.5

    def __post_init__(self):
        for name in ("members", "epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}.")
            setattr(self, name, int(value))
        for name in ("lr", "grad_clip", "weight_decay", "min_lr_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, got {value!r}.")
        for name in ("lr", "grad_clip"):
            if not math.isfinite(getattr(self, name)) or not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}.")
        if self.lr > MAX_LR:
            raise ValueError(f"lr must be a positive number of at most {MAX_LR:g} (AdamW's step "
                             f"size; the default is 0.02 at 2,048 rows per batch, less for smaller "
                             f"batches), got {self.lr!r}.")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be zero or positive, got {self.weight_decay!r}.")
        if isinstance(self.average, bool) or not (isinstance(self.average, (int, float))
                                                  and 0 <= self.average <= 1):
            raise ValueError(f"average must be a share of the epochs in [0, 1], got {self.average!r}.")
        if not 0 < self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in (0, 1], got {self.min_lr_ratio!r}.")

    def average_window(self) -> tuple[int, int] | None:
        """First and last epoch (1-based) whose steps' weights are averaged, or ``None``.

        Example:
            >>> TrainSettings(epochs=40, average=0.5).average_window()
            (21, 40)
            >>> TrainSettings(epochs=40, average=0.0).average_window() is None
            True
        """
        n_avg = int(round(self.average * self.epochs))
        return (self.epochs - n_avg + 1, self.epochs) if n_avg else None

    @classmethod
    def auto(cls, n: int, **overrides) -> TrainSettings:
        """Settings for ``n`` rows: five members (ten below 5,000 rows) and about eight
        minibatches per epoch and per member.

        The batch is a tenth of the rows (a power of two, 64 to 2,048), so each member's
        training part (four fifths) takes about eight steps per epoch whatever ``n``; the
        learning rate scales with the square root of the batch (0.02 at 2,048 rows); above
        about 20,000 rows the batch stays at 2,048 and the epochs shrink (to at least 10)
        so that the number of steps stays about the same (320); on small data (fewer than
        eight steps per epoch) the epochs grow (to at most four times as many) for the same
        reason. Eight steps per epoch rather than four, over the same passes, halved the
        spread of the effects over fit seeds on the bundled data at about 13 % more fit time
        (``benchmarks/results/README.md``). ``overrides`` (not ``None``)
        replace the chosen values; ``patience`` follows ``epochs`` unless given.

        Example:
            >>> s = TrainSettings.auto(20700); (s.members, s.epochs, s.batch_size, s.lr)
            (5, 40, 2048, 0.02)
            >>> s = TrainSettings.auto(2000); (s.members, s.epochs, s.batch_size, round(s.lr, 4))
            (10, 51, 256, 0.0071)
            >>> TrainSettings.auto(2000, epochs=10).patience
            10
        """
        n = int(n)
        base = cls()
        member_rows = 0.8 * max(n, 1)          # a member trains on four fifths of the rows
        batch = int(min(base.batch_size, max(64, 2 ** round(math.log2(member_rows / STEPS_PER_EPOCH)))))
        lr = base.lr * math.sqrt(batch / base.batch_size)
        steps = max(1.0, member_rows / batch)
        epochs = int(min(4 * base.epochs, max(10, round(base.epochs * STEPS_PER_EPOCH / steps))))
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(vars(base))
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(vars(base))}.")
        # Below 5,000 rows a fit is cheap and the optimiser's spread large next to a member's
        # sampling error: ten members (benchmarks/results/seed_stability_gss*.md).
        members = base.members * 2 if n < SMALL_DATA_ROWS else base.members
        chosen = dict(vars(base), members=members, batch_size=batch, lr=lr, epochs=epochs)
        chosen.update(given)
        if "patience" not in given:
            chosen["patience"] = chosen["epochs"]
        return cls(**chosen)


def fit_linear_part(x: Tensor, v_mid: Tensor, mask: Tensor, disc_step: Tensor,
                    weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Weighted OLS of each node on its parents (standardized scale): the linear SEM
    special case of the flow, and its starting point (from the weighted moments,
    :mod:`medflow.ols`).

    Args:
        x: ``(N, d)`` conditioning values; v_mid: ``(N, d)`` node values (interval midpoints
            for discrete nodes); mask: parent mask; disc_step: ``(d,)`` width of one integer
            step on the standardized scale (0 for continuous nodes).
        weights: optional ``(N,)`` row weights (resampling counts, 0 for rows left out).

    Returns:
        ``weight (d, d)``, ``bias (d,)`` and ``log_scale (d,)`` of the dequantized residual
        (its variance adds the uniform dequantization variance ``step**2 / 12``).

    Example:
        >>> import torch
        >>> x = torch.tensor([[0.], [1.], [2.], [3.]]).repeat(1, 2); x[:, 1] = 2 * x[:, 0] + 1
        >>> w, b, s = fit_linear_part(x, x, torch.tensor([[0., 0.], [1., 0.]]), torch.zeros(2))
        >>> round(float(w[1, 0]), 6), round(float(b[1]), 6)
        (2.0, 1.0)
    """
    n, d = x.shape
    X = x.double().cpu().numpy()
    V = v_mid.double().cpu().numpy()
    w = np.ones(n) if weights is None else weights.double().cpu().numpy()
    keep = w > 0
    # moments of the parents' values (columns 0..d-1) and the nodes' values (d..2d-1)
    mean, cov = weighted_moments(np.hstack([X[keep], V[keep]]), w[keep])
    weight = np.zeros((d, d))
    bias = np.zeros(d)
    log_scale = np.zeros(d)
    for j in range(d):
        pa = np.flatnonzero(mask[j].cpu().numpy())
        weight[j, pa] = slopes_from_cov(cov, d + j, pa)
        bias[j] = mean[d + j] - weight[j, pa] @ mean[pa]
        var = cov[d + j, d + j] - weight[j, pa] @ cov[pa, d + j] + float(disc_step[j]) ** 2 / 12.0
        log_scale[j] = 0.5 * math.log(max(var, 1e-12))
    as_t = lambda a: torch.as_tensor(a, dtype=x.dtype)  # noqa: E731
    return as_t(weight), as_t(bias), as_t(log_scale)


def node_log_lik(flow: NodeFlows, x: Tensor, u: Tensor, disc_step: Tensor,
                 interval: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Per-member, per-row, per-node log-likelihood ``(E, B, d)`` (standardized scale).

    Discrete nodes are dequantized with ``u`` unless ``interval`` = (lowest, highest observed
    value, standardized) is given: then each discrete value contributes its exact probability
    mass ``Phi(T(k + 1)) - Phi(T(k))`` under the monotone threshold model (the lowest and
    highest values take the tails).
    """
    if interval is None:
        return flow.log_prob(x + u * disc_step, x)
    disc = disc_step > 0
    (eps, ladj), (hi, _) = flow.transform((x, x + disc_step), x)
    dens = -0.5 * eps**2 - _HALF_LOG_2PI + ladj
    if not bool(disc.any()):
        return dens
    tol = 1e-4 * disc_step
    lo = torch.where(x <= interval[0] + tol, -torch.inf, eps)
    hi = torch.where(x >= interval[1] - tol, torch.inf, hi)
    mass = log_interval_mass(torch.where(disc, lo, -1.0), torch.where(disc, hi, 1.0))
    return torch.where(disc, mass, dens)


def _nll(flow: NodeFlows, x: Tensor, u: Tensor, disc_step: Tensor,
         noise_log_prob: Callable[[Tensor], Tensor] | None = None,
         interval: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Per-member, per-row negative log-likelihood ``(E, B)`` (see :func:`node_log_lik`).

    ``noise_log_prob`` maps the noise ``(E, B, d)`` to its joint log-density ``(E, B)``; by
    default the noises are independent standard normals (and ``interval`` applies). With
    both, ``noise_log_prob.interval_nll(flow, x, disc_step, interval)`` gives the negative
    log-likelihood (the noise model handles the discrete intervals).
    """
    if interval is not None and noise_log_prob is not None:
        # a noise model with dependent noises (medflow.sensitivity's copula) computes the
        # interval likelihood itself
        return noise_log_prob.interval_nll(flow, x, disc_step, interval)
    if noise_log_prob is None:
        return -node_log_lik(flow, x, u, disc_step, interval).sum(-1)
    eps, ladj = flow(x + u * disc_step, x)
    return -(noise_log_prob(eps) + ladj.sum(-1))


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def truncated_normal(lo: Tensor, hi: Tensor, w: Tensor) -> Tensor:
    """Inverse-CDF draw from N(0, 1) truncated to [lo, hi); stable in both tails."""
    flip = lo > 0  # work in the lower tail, where ndtr has full relative precision
    a = torch.where(flip, -hi, lo)
    b = torch.where(flip, -lo, hi)
    pa, pb = torch.special.ndtr(a), torch.special.ndtr(b)
    z = torch.special.ndtri((pa + w * (pb - pa)).clamp(1e-300, 1 - 1e-16))
    z = torch.minimum(torch.maximum(z, a), b)
    return torch.where(flip, -z, z)


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
    val_weights: Tensor | None = None,
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
        weights: optional ``(E, N)`` row weights per member (bootstrap counts, 0 for the rows
            a member leaves out); each member's epoch goes through its positive-weight rows only.
        val_weights: optional ``(E, len(val_idx))`` weights of the validation rows per member
            (default: ``weights`` at ``val_idx``).
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

    # Each member goes through its own rows: those of train_idx with a positive weight (its
    # training folds, its resample's distinct rows), in its own random order, so no step is spent
    # on rows a member does not train on; the same for the held-out rows.
    w_val_all = weights[:, val_idx] if val_weights is None else val_weights.to(dtype=x.dtype, device=device)
    tr_rows, tr_w = _member_rows(torch.as_tensor(train_idx, device=device), weights[:, train_idx])
    va_rows, w_val = _member_rows(torch.as_tensor(val_idx, device=device), w_val_all)
    x_val = x[va_rows]                                             # (E, n_val, d)
    u_val = torch.rand(x_val.shape, generator=generator, dtype=x.dtype).to(device)
    n_train = tr_rows.shape[1]
    member_pos = torch.arange(E, device=device)[:, None]

    best = torch.full((E,), math.inf, dtype=torch.float64)
    best_state = {k: v.detach().clone() for k, v in flow.state_dict().items()}
    stale = torch.zeros(E, dtype=torch.long)
    best_epoch = torch.zeros(E, dtype=torch.long)
    # Polyak-Ruppert average of every step's weights over the last ``average`` of the schedule
    window = settings.average_window()
    avg_from = None if window is None else window[0] - 1       # 0-based epoch
    avg_state = {k: torch.zeros_like(v) for k, v in best_state.items()} if window else {}
    avg_n = torch.zeros(E, dtype=torch.float64)
    full_val = (va_rows, w_val, u_val)  # every member's held-out rows (repacking drops some)
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
        order = torch.rand(E, n_train, generator=generator).argsort(1).to(device)
        total, count = 0.0, 0.0
        for start in range(0, n_train, settings.batch_size):
            cols = order[:, start:start + settings.batch_size]
            idx = tr_rows[member_pos[:E], cols]                      # (E, B) rows of each member
            wb = tr_w[member_pos[:E], cols]
            xb = x[idx]
            ub = torch.rand(xb.shape, generator=generator, dtype=x.dtype).to(device)
            nll = _nll(flow, xb, ub, disc_step, noise_log_prob, interval)
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
            if avg_from is not None and epoch >= avg_from:
                _accumulate(avg_state, avg_n, flow, ids)
            total += float(loss_e.detach().mean()) * cols.shape[1]
            count += cols.shape[1]
        sched.step()
        flow.eval()
        with torch.no_grad():
            nll_val = _nll(flow, x_val, u_val, disc_step, noise_log_prob, interval)
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
            best_epoch[ids[improved]] = epoch + 1
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
            k = keep.to(device)
            tr_rows, tr_w, x_val, u_val, w_val = tr_rows[k], tr_w[k], x_val[k], u_val[k], w_val[k]
            ids, E = ids[keep], len(keep)
    if bar is not None:
        bar.close()
    if flow.E != len(best):  # every member back, each with its best weights
        _keep_members(flow, opt, torch.zeros(len(best), dtype=torch.long, device=device))
    averaged = torch.zeros(len(best), dtype=torch.bool)
    if window and bool((avg_n > 0).any()):
        averaged = _prefer_average(flow, best_state, avg_state, avg_n > 0, best, x, full_val,
                                   disc_step, noise_log_prob, interval)
    else:
        flow.load_state_dict(best_state)
    history = pd.DataFrame(rows, columns=["epoch", "train_nll", "val_nll", "lr", "members"])
    history.attrs["best_epochs"] = [int(e) for e in best_epoch]
    history.attrs["averaged"] = [bool(a) for a in averaged]
    return history


def _accumulate(avg: dict, n: Tensor, flow: NodeFlows, ids: Tensor) -> None:
    """Fold the current weights of the members at positions ``ids`` into their running means."""
    n[ids] += 1
    for k, v in flow.state_dict().items():
        if k == "mask":
            continue
        a = avg[k]
        f = (1.0 / n[ids]).to(dtype=a.dtype, device=a.device).reshape(-1, *([1] * (a.dim() - 1)))
        a[ids] += (v.detach().to(a.device) - a[ids]) * f


def _prefer_average(flow: NodeFlows, best_state: dict, avg_state: dict, have: Tensor, best: Tensor,
                    x: Tensor, val: tuple[Tensor, Tensor, Tensor], disc_step: Tensor,
                    noise_log_prob, interval) -> Tensor:
    """Load, per member, its averaged weights where they predict its held-out rows better than
    its best epoch (``best``, same rows and dequantization), else its best epoch; returns
    which members keep the average."""
    va_rows, w_val, u_val = val
    avg_state["mask"] = best_state["mask"]
    flow.load_state_dict(avg_state)
    flow.eval()
    with torch.no_grad():
        nll = _nll(flow, x[va_rows], u_val, disc_step, noise_log_prob, interval)
        val_avg = ((nll * w_val).sum(1) / w_val.sum(1).clamp(min=1e-12)).double().cpu()
    better = have & (val_avg < best)
    flow.load_state_dict({
        k: v if k == "mask" else
        torch.where(better.to(v.device).reshape(-1, *([1] * (v.dim() - 1))), avg_state[k], v)
        for k, v in best_state.items()})
    return better


def _member_rows(rows: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """Each member's rows with a positive weight, padded to a common length ``(E, n_max)``
    with other rows at weight 0, and their weights.

    Example:
        >>> r, w = _member_rows(torch.arange(4), torch.tensor([[1., 0., 2., 0.], [0., 1., 1., 1.]]))
        >>> r.tolist(), w.tolist()
        ([[0, 2, 1], [1, 2, 3]], [[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    """
    pos = weights > 0
    n_max = max(1, int(pos.sum(1).max()))
    # stable sort puts each member's positive rows first, in their original order
    order = torch.sort((~pos).to(torch.int8), dim=1, stable=True).indices[:, :n_max]
    w = torch.gather(weights, 1, order)
    return rows[order], torch.where(torch.gather(pos, 1, order), w, torch.zeros_like(w))


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
