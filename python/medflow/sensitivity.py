"""Sensitivity of flow-based effects to unobserved confounding (ρ-GNF).

A fitted flow assumes independent noises ``eps_j``. A hidden common cause of
two nodes ``i`` and ``j`` makes their noises dependent. Following ρ-GNF
(Balgi, Peña & Daoud 2022), the noises of chosen node pairs are given a
Gaussian copula with correlation ``rho``: ``eps ~ N(0, Sigma_rho)`` with
``Sigma_rho[i, j] = rho`` for each chosen pair and the identity elsewhere, so
the joint log-density of a row is

    sum_j log |dT_j / dv_j| + log N(eps; 0, Sigma_rho).

For every ``rho`` of a grid the flow is refitted under this likelihood and
the effects are recomputed; the effect as a function of ``rho`` shows how
strong a hidden confounder would have to be to change a conclusion, and the
``rho`` at which it crosses zero is its "ρ-value".

How it is computed:

* **One batched refit for the whole grid.** Every (pair set, ``rho``)
  combination is one member of a :class:`~medflow.flow.NodeFlows` ensemble
  with its own ``Sigma_rho`` in the copula term (bootstrap replicates, if
  asked for, are further members), so a grid of 9 values costs a few fits'
  worth of computation rather than 9 fits. Each member is warm-started from
  the fitted model with its linear SEM part moved by the shift from the
  independent-noise Gaussian MLE (OLS) to the Gaussian MLE under
  ``Sigma_rho`` (computed from the data's covariance), then fine-tuned with
  early stopping on the fit's validation rows (its first fold), with the
  fit's likelihood for discrete nodes (their exact interval mass under the
  copula, by default); a member whose validation likelihood does not improve
  keeps its warm start. The rho = 0 members are the fitted model itself, so
  the curve passes through the effects of ``fit.effects()``.
* **Bootstrap replicates repeat the whole procedure on their resamples.**
  Replicate ``b`` first runs the fit's procedure on resample ``b`` from
  scratch (:mod:`medflow.bootstrap`: a fresh flow started from the
  resample's OLS, trained with the fit's settings, stopped on a held-out
  fold of the resample's distinct rows, its own linear nodes; the refits of
  ``fit.effects(n_boot=...)``, shared with it). That refit then plays the
  fitted model's part: the replicate's copula refits start from it, with the
  linear shift computed on the resample, train on the resample's rows
  outside that fold and stop on the fold; at rho = 0 the replicate is that
  refit itself. Nothing is warm-started from the fitted model, so no
  replicate inherits it and the intervals carry the estimator's whole
  variability (at rho = 0 they are the effects bootstrap's).
* **Effects with the refitted transforms.** The counterfactual engine of
  :mod:`medflow.effects` is reused. Abduction inverts each node's refitted
  transform as before (for a discrete node in a correlated pair the noise is
  drawn from its interval given the other noises: a truncated conditional
  normal); fresh noise (``n_mc`` draws and the randomized interventional
  mediator draws) comes from ``N(0, Sigma_rho)``, the latter conditional on
  each unit's noises of the nodes held fixed (the non-descendants of the
  treatment other than the treatment itself).

Which pairs are allowed: any two different model variables, including

* pairs **joined by a direct edge** (``U -> Y`` and correlated ``eps_U``,
  ``eps_Y``): still a valid structural model; the data cannot tell the
  correlation apart from a change in the edge's function, which is exactly
  why ``rho`` is a sensitivity parameter fixed by assumption rather than
  estimated;
* pairs **involving the treatment** (hidden treatment–mediator or
  treatment–outcome confounding): each unit's abducted noise is kept, and
  the randomized mediator draws integrate the treatment's noise out (they
  are drawn given the pre-treatment variables only);
* pairs of pre-treatment variables (allowed; they leave the effects
  unchanged up to refitting noise).

Rejected with a ``ValueError``: ``|rho| >= 1``, a variable that is not in
the model, a variable paired with itself, the same pair twice within one
pair set, the same pair set twice, and pair sets whose correlation matrix is
not positive definite at some ``rho`` of the grid.

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> from medflow.sensitivity import sensitivity   # also available as mf.sensitivity
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=300); m = x + rng.normal(size=300); y = m + x + rng.normal(size=300)
    >>> fit = mf.CausalFlow("M ~ X; Y ~ X + M", pd.DataFrame(dict(X=x, M=m, Y=y))).fit(epochs=2, verbose=False)
    >>> res = sensitivity(fit, pairs=[("M", "Y")], rho=[-0.3, 0.0, 0.3], treatment="X", outcome="Y",
    ...                   mediators=["M"], epochs=2, verbose=False)
    >>> res.table.shape[0], list(res.rho_values().columns)
    (9, ['pair', 'label', 'rho_value', 'rho_value_ci'])

References:
    Balgi, Peña & Daoud (2022). ρ-GNF: a sensitivity analysis approach under unobserved
    confounders. arXiv:2209.07111.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medflow import estimands as _est
from medflow.bootstrap import default_members
from medflow.copula import (Pair, _Copula, _CopulaLikelihood, _pair_text, _scenario_text, copula_linear_part,
                            noise_correlation)
from medflow.effects import _check_query, _contrast, _Engine, _Units, _world
from medflow.estimands import LEVEL, mediator_sets
from medflow.flow import NodeFlows
from medflow.results import EFFECT_COLUMNS, MONOTONE_ASSUMPTION, EffectsResult, effect_row
from medflow.training import TrainSettings, _nll, train

__all__ = ["sensitivity", "SensitivityResult", "noise_correlation", "copula_linear_part"]


#: Columns of :attr:`SensitivityResult.table`: the pair set and rho, then the effects schema.
SENSITIVITY_COLUMNS: tuple[str, ...] = ("pair", "rho", *EFFECT_COLUMNS)

_DEFAULT_ESTIMANDS = ("TE", "NDE", "NIE")


# ==================================================================== input checks
def _check_rho(rho) -> np.ndarray:
    try:
        grid = np.asarray(rho, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"rho must be a sequence of numbers, got {rho!r}.") from None
    grid = np.atleast_1d(grid)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("rho must be a non-empty 1-D sequence of correlations, e.g. "
                         "np.linspace(-0.4, 0.4, 9).")
    bad = grid[~(np.abs(grid) < 1)]
    if bad.size:
        raise ValueError("Every rho must lie strictly between -1 and 1 (a correlation of +-1 makes "
                         f"the noise covariance singular); got {', '.join(f'{v:g}' for v in bad)}.")
    values, counts = np.unique(np.round(grid, 12), return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"rho has duplicate values: {', '.join(f'{v:g}' for v in values[counts > 1])}.")
    return values  # sorted


def _as_pair(item) -> Pair | None:
    """``("U", "Y")``, ``["U", "Y"]`` or ``"U ~~ Y"`` → ``("U", "Y")``; anything else → None."""
    if isinstance(item, str):
        if "~~" not in item:
            return None
        parts = [p.strip() for p in item.split("~~")]
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, str) for v in item):
        return (item[0].strip(), item[1].strip())
    return None


def _parse_pairs(variables: Sequence[str], pairs) -> list[tuple[Pair, ...]]:
    """Pair sets: each element of ``pairs`` is one pair or a list of pairs correlated jointly."""
    single = _as_pair(pairs)
    if single is not None and (isinstance(pairs, str) or not any("~~" in v for v in pairs)):
        pairs = [pairs]  # one pair given on its own
    if isinstance(pairs, str) or not isinstance(pairs, Sequence) or len(pairs) == 0:
        raise ValueError("pairs must list at least one pair of variables whose noises are correlated, "
                         "e.g. pairs=[('U', 'Y')] or pairs=['U ~~ Y'].")
    order = {v: k for k, v in enumerate(variables)}
    scenarios: list[tuple[Pair, ...]] = []
    for item in pairs:
        one = _as_pair(item)
        members = [one] if one is not None else None
        if members is None and isinstance(item, (list, tuple)) and item:
            members = [_as_pair(p) for p in item]
        if not members or any(p is None for p in members):
            raise ValueError(f"Each element of pairs must be a pair of variable names such as ('U', 'Y') "
                             f"or 'U ~~ Y', or a list of such pairs correlated jointly; got {item!r}.")
        seen: list[Pair] = []
        for a, b in members:
            for v in (a, b):
                if v not in order:
                    raise ValueError(f"The pair {_pair_text((a, b))} names '{v}', which is not a variable "
                                     f"of the model; its variables are {', '.join(variables)}.")
            if a == b:
                raise ValueError(f"The pair {_pair_text((a, b))} pairs a variable with itself; a pair "
                                 "needs two different variables.")
            pair = (a, b) if order[a] < order[b] else (b, a)
            if pair in seen:
                raise ValueError(f"The pair {_pair_text(pair)} is listed twice in one set of pairs.")
            seen.append(pair)
        scenario = tuple(seen)
        if any(set(scenario) == set(s) for s in scenarios):
            raise ValueError(f"The set of pairs {_scenario_text(scenario)} is given twice in pairs=.")
        scenarios.append(scenario)
    return scenarios


class _CopulaEngine(_Engine):
    """The effects engine with dependent noise for the randomized mediator draws."""

    def __init__(self, *args, copula: _Copula, **kwargs):
        super().__init__(*args, **kwargs)
        self.copula = copula

    def unit_noise(self, k: int) -> Tensor:
        # a fresh posterior draw of the units' discrete noises for every randomized draw
        if self.units.drawn or not bool((self.fit.disc_step > 0).any()):
            return self.units.eps
        if k not in self._unit_eps:
            self._unit_eps[k] = self.copula.abduct(self.fit, self.flow, self.units.x, self.gen)
        return self._unit_eps[k]

    def fresh_noise(self, z: Tensor) -> Tensor:
        # The mediator draw G_{a|C} is independent of the unit given C: fresh noise for the
        # treatment's descendants, conditional on the unit's noise of the nodes held fixed.
        # The treatment's own noise is integrated out (drawn too), not conditioned on.
        return self.copula.conditional(self.units.eps, sorted(self.desc | {self.A}), z)


def _linear_stats(x: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    return np.atleast_2d(np.cov(x, rowvar=False, aweights=weights, bias=True))


# ==================================================================== the refit
def _refit(fit, sigma: np.ndarray, settings: TrainSettings | None, seed: int, verbose: bool,
           start: NodeFlows, counts: Tensor | None = None,
           split: tuple[Tensor, Tensor] | None = None) -> NodeFlows:
    """Copula refit of ``E = len(sigma)`` members trained as one ensemble.

    Member ``e`` starts from member ``e`` of ``start``, the fit of its own data: a member of the
    fitted model for the point estimates, or a bootstrap replicate's refit on its resample (the
    fit's procedure from scratch, :mod:`medflow.bootstrap`). Its linear SEM part is moved by the
    shift from the independent-noise Gaussian MLE (OLS) to the Gaussian MLE under
    ``Sigma_rho``, both on the member's own data (``counts[e]``, its resampling counts; ``None``
    or a row of ones: the data as observed).

    ``settings=None``: that warm start only. Otherwise the members are fine-tuned with the copula
    likelihood on the training rows of ``split`` and stopped early on its validation rows
    (``(E, N)`` row weights each; default: the fit's own first fold held out, for every member,
    see :func:`_fit_split`). A member whose validation likelihood did not improve keeps its warm
    start (early stopping over epochs 0, 1, ..., K rather than 1, ..., K), and so does every
    member at ``Sigma = I``: the fit of its data itself.
    """
    from medflow.training import _member_rows

    gen = torch.Generator().manual_seed(int(seed))
    E = sigma.shape[0]
    x = fit._to_tensor(fit.data.to_numpy())
    n = x.shape[0]
    step = fit.disc_step
    mask = fit.mask.numpy()
    xn = x.double().numpy()
    mid = xn + 0.5 * step.double().numpy()
    eye = np.eye(len(step))
    bases: dict = {}

    def base(wt: np.ndarray | None, key) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Covariance and the independent-noise linear SEM (weights, intercepts, log-scales) of
        the data with row weights ``wt`` (the start's own data)."""
        if key not in bases:
            cov = _linear_stats(xn, wt)
            w0, s0 = copula_linear_part(cov, mask, step.numpy(), eye)
            c0 = np.average(mid, axis=0, weights=wt) - w0 @ np.average(xn, axis=0, weights=wt)
            bases[key] = (cov, w0, c0, s0)
        return bases[key]

    ens = start
    shifts_w, shifts_b, shifts_s = [], [], []
    cache: dict = {}
    for e in range(E):
        wt = None
        if counts is not None and not bool((counts[e] == 1).all()):
            wt = counts[e].double().numpy()
        wkey = None if wt is None else wt.tobytes()
        key = (wkey, sigma[e].tobytes())
        if key not in cache:
            cov, w_base, c_base, s_base = base(wt, wkey)
            w_e, s_e = copula_linear_part(cov, mask, step.numpy(), sigma[e])
            mean_x = np.average(xn, axis=0, weights=wt)
            mean_v = np.average(mid, axis=0, weights=wt)
            cache[key] = (w_e - w_base, (mean_v - w_e @ mean_x) - c_base, s_e - s_base)
        dw, db, ds = cache[key]
        shifts_w.append(dw), shifts_b.append(db), shifts_s.append(ds)
    as_t = lambda a: torch.as_tensor(np.stack(a), dtype=fit.dtype)  # noqa: E731
    with torch.no_grad():
        ens.weight.add_(as_t(shifts_w) * fit.mask)
        ens.bias.add_(as_t(shifts_b))
        ens.log_scale.add_(as_t(shifts_s))
    if split is None:  # the fit's split for every member
        train_idx, val_idx = _fit_split(fit, n, gen)
        train_w = torch.zeros(E, n, dtype=x.dtype)
        val_w = torch.zeros(E, n, dtype=x.dtype)
        train_w[:, train_idx], val_w[:, val_idx] = 1.0, 1.0
    else:
        train_w, val_w = (w.to(x.dtype) for w in split)
        train_idx = np.flatnonzero((train_w > 0).any(0).numpy())
        val_idx = np.flatnonzero((val_w > 0).any(0).numpy())
    copula = _Copula(sigma)
    likelihood, interval = _likelihood(fit, copula)
    ens.interval_likelihood = interval is not None
    if settings is None:  # warm start only
        ens.history = pd.DataFrame({"epoch": [0]})
        ens.kept_warm_start = torch.ones(E, dtype=torch.bool)
        return ens
    # each member's validation rows (its positive-weight rows of val_idx), padded with weight 0
    va_rows, w_val = _member_rows(torch.as_tensor(val_idx), val_w[:, val_idx])
    x_val = x[va_rows]
    u_val = torch.rand(x_val.shape[1:], generator=gen, dtype=x.dtype).expand(E, -1, -1)

    def val_nll() -> Tensor:  # per member, with the copula
        with torch.no_grad():
            nll = _nll(ens, x_val, u_val, step, likelihood, interval)
            return (nll * w_val).sum(1) / w_val.sum(1).clamp(min=1e-12)

    warm_state = {k: v.detach().clone() for k, v in ens.state_dict().items()}
    warm_nll = val_nll()
    history = train(ens, x, step, train_idx, val_idx, settings, gen, weights=train_w, verbose=verbose,
                    desc=f"rho refit ({E} members)", noise_log_prob=likelihood, interval=interval,
                    val_weights=val_w[:, val_idx])
    # Early stopping over epochs 0..K: a member whose fine-tuning did not improve the validation
    # likelihood keeps its warm start (fine-tuning noise would only move its effects at random).
    keep = (val_nll() >= warm_nll) | _is_the_fit(sigma)
    if keep.any():
        mixed = {name: value if name == "mask" else
                 torch.where(keep.reshape(-1, *[1] * (value.dim() - 1)), warm_state[name], value)
                 for name, value in ens.state_dict().items()}
        ens.load_state_dict(mixed)
    ens.history = history
    ens.kept_warm_start = keep
    return ens


def _is_the_fit(sigma: np.ndarray) -> Tensor:
    """Members at rho = 0 ``(E,)``: each starts from the fit of its own data (the fitted model,
    or a bootstrap replicate's refit on its resample) and is that fit itself, not fine-tuned
    (fine-tuning would only move it by optimizer noise away from the model whose effects
    ``fit.effects()`` reports, or its bootstrap replicate)."""
    eye = np.eye(sigma.shape[-1])
    return torch.as_tensor(np.all(np.abs(sigma - eye) < 1e-12, axis=(1, 2)))


def _likelihood(fit, copula: _Copula) -> tuple[_CopulaLikelihood, tuple[Tensor, Tensor] | None]:
    """The copula likelihood of the refits and the observed bounds for interval masses: the
    fit's discrete likelihood (``fit_info["discrete_likelihood"]``, ``"interval"`` by
    default), or ``None`` (dequantized) when the fit was dequantized, there are no discrete
    nodes, or more than two discrete nodes stay correlated given the continuous noises."""
    lik = _CopulaLikelihood(copula, fit.disc_step > 0)
    wanted = fit.fit_info.get("discrete_likelihood", "interval") == "interval"
    if wanted and bool((fit.disc_step > 0).any()) and lik.supported:
        return lik, fit._bounds()
    return lik, None


def _fit_split(fit, n: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows for the copula refits: the fit's own first fold
    (``fit_info["folds_of_rows"]``) is held out, so early stopping is judged on rows the fit's
    first member never trained on; without recorded folds a fresh fifth is held out."""
    folds = fit.fit_info.get("folds_of_rows")
    if folds is None or len(folds) != n:
        perm = torch.randperm(n, generator=generator).numpy()
        folds = np.zeros(n, dtype=int)
        folds[perm[max(1, n // 5):]] = 1
    folds = np.asarray(folds)
    return np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)


def _member_contrast(engine: _Engine, hi: Tensor, lo: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-member mean difference (outcome units) and its Monte Carlo error, both ``(E,)``
    (see :meth:`medflow.effects._Engine.member_contrast`)."""
    est, var = engine.member_contrast(hi, lo)
    return est.numpy(), var.sqrt().numpy()


def _select(specs, estimands):
    if estimands is None:
        return [s for s in specs if s.code in _DEFAULT_ESTIMANDS]
    wanted = [estimands] if isinstance(estimands, str) else list(estimands)
    codes = list(dict.fromkeys(s.code for s in specs))
    labels = [s.label for s in specs]
    unknown = [w for w in wanted if w not in codes and w not in labels]
    if unknown:
        raise ValueError(f"Unknown estimand(s) {', '.join(map(repr, unknown))}; with these mediators "
                         f"choose among the codes {', '.join(codes)} or the labels {', '.join(labels)}.")
    return [s for s in specs if s.code in wanted or s.label in wanted]


# ==================================================================== public function
def sensitivity(fit, pairs, rho: Sequence[float] | None = None, *, treatment: str, outcome: str,
                mediators=None, estimands=None, a: float | None = None, a_ref: float | None = None,
                n_boot: int = 0, level: float = LEVEL, seed: int = 0, n_mc: int | None = None,
                epochs: int = 30, patience: int = 3, lr: float | None = None, batch_size: int | None = None,
                chunks: int = 1, boot_options: dict | None = None, verbose: bool = True) -> SensitivityResult:
    """Effects as a function of an assumed noise correlation ``rho`` between node pairs (ρ-GNF).

    For every pair set and every ``rho`` the flow is refitted with a Gaussian copula between
    the paired noises (all refits trained together as one ensemble, warm-started from ``fit``)
    and the effects are recomputed with the refitted transforms. A bootstrap replicate repeats
    this on its resample, starting from its own refit of the fit's procedure on that resample
    (never from ``fit``). See the module docstring for which pairs are allowed, how the
    bootstrap works and how abduction and fresh draws use the copula.

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        pairs: pairs whose noises are correlated, each analysed separately:
            ``[("U", "Y"), ("W", "Y")]`` or ``["U ~~ Y", "W ~~ Y"]``; a list of pairs as one
            element, ``[[("U", "Y"), ("W", "Y")]]``, correlates them jointly (same ``rho``).
        rho: the grid of correlations, |rho| < 1 (default ``None``: -0.4 to 0.4 in steps of 0.1).
        treatment, outcome: variable names.
        mediators: mediator sets as in :func:`medflow.effects.effects` (default ``None``: every
            variable on a path from the treatment to the outcome, one at a time).
        estimands: codes (``"TE"``, ``"NDE"``, ``"NIE"``, ``"rNDE"``, ``"rNIE"``) or labels
            (``"NIE via W"``); default: TE and the natural direct and indirect effects.
        a, a_ref: treatment contrast (default: :func:`medflow.estimands.default_contrast`).
        n_boot: bootstrap replicates per (pair set, rho) for percentile intervals (0 = none);
            replicate ``b`` uses the same resample, and the same refit on it, for every ``rho``.
            The refits are those of ``fit.effects(n_boot=n_boot, seed=seed)`` (shared when both
            are called with the same ``seed`` and ``boot_options``), so at ``rho = 0`` the
            replicates are the effects bootstrap's.
        level: interval level.
        seed: seeds the refits, abduction of discrete nodes, fresh draws and the bootstrap.
        n_mc: average over this many draws from each refitted model instead of the observed units.
        epochs, patience, lr, batch_size: fine-tuning settings of the copula refits, the point
            estimates' and the replicates' alike (defaults: half the fit's learning rate, the
            fit's batch size).
            ``epochs=0`` skips fine-tuning: each member is its warm start (the fit of its data,
            with its linear part moved to the Gaussian MLE under ``Sigma_rho``), exact for a
            linear-Gaussian flow.
        chunks: train the copula refits in this many sequential ensembles (less memory).
        boot_options: how the replicates' refits on their resamples are run, as in
            :func:`medflow.effects.effects`: ``{"chunks": c}`` splits them into ``c`` ensembles
            trained through joblib (any joblib backend, e.g. Dask), ``{"n_jobs": j}`` sets the
            joblib workers.
        verbose: progress bars.

    Returns:
        A :class:`SensitivityResult`; with ``n_boot``, ``fit_info["replicates"]`` holds every
        replicate's estimate (columns ``pair``, ``rho``, ``label``, ``replicate``, ``estimate``:
        the average of the replicate's members, used as it is by the intervals,
        :func:`medflow.estimands.replicate_means`).

    Raises:
        ValueError: for an invalid grid or pair (see the module docstring for the rules).
    """
    fit._require_fitted()
    _check_query(fit, treatment, outcome)
    if fit.data is None:
        raise ValueError("sensitivity() refits the model on its data, and this model was saved "
                         "without them (save(include_data=False)); load a model saved with "
                         "include_data=True.")
    groups = mediator_sets(mediators, fit.dag, treatment, outcome)  # None: as in effects(); validates
    a, a_ref, how = _contrast(fit, treatment, a, a_ref, False)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}.")
    if int(n_boot) != n_boot or n_boot < 0 or n_boot == 1:
        raise ValueError(f"n_boot must be 0 or an integer of at least 2, got {n_boot}.")
    n_boot = int(n_boot)
    grid = _check_rho(np.linspace(-0.4, 0.4, 9) if rho is None else rho)
    if n_mc is not None and (int(n_mc) != n_mc or n_mc < 1):
        raise ValueError(f"n_mc must be a positive integer, got {n_mc}.")
    variables = list(fit.variables)
    scenarios = _parse_pairs(variables, pairs)
    specs = _select(_est.natural(fit.dag, treatment, outcome, groups, True), estimands)
    sigmas = {(s, g): noise_correlation(variables, sc, r)
              for s, sc in enumerate(scenarios) for g, r in enumerate(grid)}
    # Refits: for the point estimates (b = 0) one per member m of the fit's ensemble, averaged
    # as fit.effects() averages them, each warm-started from that member. A bootstrap replicate
    # b >= 1 runs the same procedure on its resample: the fit's procedure from scratch
    # (medflow.bootstrap, with as many members as fit.effects(n_boot=...) gives a replicate),
    # then the same copula refit of each of them warm-started from it, never from the fitted model.
    K = fit._require_fitted().E
    per = default_members(len(fit.data))
    members = [(b, s, g, m) for b in range(n_boot + 1) for s in range(len(scenarios))
               for g in range(len(grid)) for m in range(K if b == 0 else per)]
    if not 1 <= int(chunks) <= len(members):
        raise ValueError(f"chunks must be between 1 and the number of refits ({len(members)}), got {chunks}.")
    info = {**vars(TrainSettings()), **fit.fit_info.get("settings", {})}  # the fit's settings
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs}.")
    settings = None if epochs == 0 else TrainSettings(
        epochs=int(epochs), batch_size=batch_size or info["batch_size"], lr=lr or info["lr"] / 2,
        weight_decay=info["weight_decay"], patience=patience)
    boot_opts = _check_boot_options(boot_options, n_boot)
    n_rows = len(fit.data)

    gen = torch.Generator().manual_seed(int(seed))
    est = {s.label: np.full(len(members), np.nan) for s in specs}
    mc = {s.label: np.full(len(members), np.nan) for s in specs}
    started = time.perf_counter()
    starts, boot_w, boot_split, boot_s = fit._require_fitted(), None, None, 0.0
    if n_boot:
        from medflow.bootstrap import _concat, bootstrap_ensemble

        # the replicates' own fits (cached on fit and shared with fit.effects(n_boot, seed))
        replicates, boot_w = bootstrap_ensemble(fit, n_boot, seed, members=per, verbose=verbose,
                                                **boot_opts)
        starts = _concat([fit._require_fitted(), replicates])   # K + (b - 1) per + m: replicate b
        # Fine-tuning rows: the point members hold out the fit's first fold (as without a
        # bootstrap); replicate b holds out its own fold of its resample's distinct rows, the
        # rows its refit stopped on, and trains on the rest of its resample.
        fit_rows = [torch.zeros(n_rows, dtype=torch.float64) for _ in range(2)]
        for w, rows in zip(fit_rows, _fit_split(fit, n_rows, torch.Generator().manual_seed(seed * 7919))):
            w[torch.as_tensor(rows)] = 1.0
        boot_split = [(fit_rows[0], fit_rows[1])] + list(zip(replicates.train_weights,
                                                              replicates.val_weights))
        boot_s = time.perf_counter() - started
    epochs_run, warm_kept, refit_s, interval_used = [], 0, 0.0, []
    for k, idx in enumerate(np.array_split(np.arange(len(members)), int(chunks))):
        chunk = [members[i] for i in idx]
        sigma = np.stack([sigmas[(s, g)] for _, s, g, _ in chunk])
        start = starts.members([m if b == 0 else K + (b - 1) * per + m for b, _, _, m in chunk])
        weights = split = None
        if n_boot:
            weights = torch.stack([torch.ones(n_rows, dtype=torch.float64) if b == 0
                                   else boot_w[(b - 1) * per + m] for b, _, _, m in chunk])
            split = tuple(torch.stack([boot_split[0 if b == 0 else 1 + (b - 1) * per + m][part]
                                       for b, _, _, m in chunk]) for part in (0, 1))
        t0 = time.perf_counter()
        ens = _refit(fit, sigma, settings, seed * 7919 + k, verbose and k == 0, start,
                     counts=weights, split=split)
        refit_s += time.perf_counter() - t0
        epochs_run.append(int(ens.history["epoch"].max()))
        warm_kept += int(ens.kept_warm_start.sum())
        interval_used.append(bool(ens.interval_likelihood))
        copula = _Copula(sigma)
        units = _copula_units(fit, ens, copula, n_mc, gen, weights)
        with torch.no_grad():
            engine = _CopulaEngine(fit, ens, units, treatment, outcome, a, a_ref, gen, copula=copula)
            for sp in specs:
                e_hat, e_mc = _member_contrast(engine, _world(engine, sp.hi), _world(engine, sp.lo))
                est[sp.label][idx], mc[sp.label][idx] = e_hat, e_mc
    elapsed = time.perf_counter() - started

    sd_y = float(fit.data[outcome].std())
    n_units = int(n_mc) if n_mc is not None else n_rows
    pos = {m: i for i, m in enumerate(members)}
    rows, rep_rows = [], []
    for s, scenario in enumerate(scenarios):
        for g, r in enumerate(grid):
            for sp in specs:
                at_point = [pos[(0, s, g, m)] for m in range(K)]
                point = float(est[sp.label][at_point].mean())
                se = lo = hi = np.nan
                if n_boot:
                    raw = est[sp.label][[pos[(b, s, g, m)] for b in range(1, n_boot + 1)
                                         for m in range(per)]]
                    reps = _est.replicate_means(raw, per)
                    se, lo, hi = _est.interval(reps, level)
                    rep_rows += [dict(pair=_scenario_text(scenario), rho=float(r), label=sp.label,
                                      replicate=b + 1, estimate=float(v))
                                 for b, v in enumerate(reps)]
                ident = _est.identification_fields(sp, MONOTONE_ASSUMPTION)
                if r != 0:  # the estimate rests on the assumed correlation, not on the data
                    ident["identified"] = False
                    ident["assumption"] = "; ".join(
                        a for a in (_rho_assumption(scenario, r), ident["assumption"]) if a)
                row = effect_row(
                    estimand=sp.code, label=sp.label, path=sp.path_text, treatment=treatment,
                    outcome=outcome, mediators=sp.mediators, a=a, a_ref=a_ref, estimate=point,
                    sd_outcome=sd_y, std_error=se, ci_lower=lo, ci_upper=hi,
                    level=level if n_boot else np.nan, mc_error=float(np.sqrt((mc[sp.label][at_point] ** 2).sum()) / K),
                    **ident, method="flow", n_boot=n_boot, n=n_units)
                rows.append({"pair": _scenario_text(scenario), "rho": float(r), **row})
    over = f"{n_mc} draws from each refitted model" if n_mc is not None else f"{n_units} observed units"
    notes = [
        f"Contrast: {treatment} = {a:g} vs {a_ref:g} ({how}); SD({outcome}) = {sd_y:.4g}.",
        f"Averaged over {over}; "
        + (f"{n_boot} bootstrap refits per rho, {level:.0%} percentile intervals." if n_boot
           else "no bootstrap (n_boot=0)."),
        f"{len(members)} copula refits ("
        + (f"warm-started, at most {epochs} epochs, " if epochs else "warm start only, ")
        + f"trained as {int(chunks)} ensemble(s)) in {elapsed:.1f} s.",
        "Each estimate assumes the stated noise correlation rho (Gaussian copula) for the pair(s); "
        "rho = 0 is the no-hidden-confounding model. Rows at rho != 0 are marked identified = False: "
        "they rest on the assumed rho, which the data cannot check.",
    ]
    wanted = fit.fit_info.get("discrete_likelihood", "interval") == "interval"
    if wanted and bool((fit.disc_step > 0).any()):
        if all(interval_used):
            notes.append("Discrete nodes enter the refits through their exact interval mass, as in the fit.")
        else:
            notes.append("More than two discrete nodes are correlated jointly in some pair set: those "
                         "refits use the dequantized likelihood, not the fit's interval likelihood.")
    if n_boot:
        notes.append(f"Bootstrap replicate b: the fit's procedure on resample b from scratch (as in "
                     f"fit.effects(n_boot=...)), then the copula refit warm-started from that refit "
                     f"(trained on the resample, stopped on its own held-out rows); at rho = 0 that "
                     f"refit itself ({boot_s:.1f} s for the {n_boot} refits).")
    fit_info = dict(elapsed=elapsed, refit_seconds=refit_s, effects_seconds=elapsed - refit_s - boot_s,
                    members=len(members), epochs_run=epochs_run, kept_warm_start=warm_kept,
                    settings=vars(settings) if settings else {}, chunks=int(chunks),
                    interval_likelihood=all(interval_used), bootstrap_seconds=boot_s,
                    replicates=pd.DataFrame(rep_rows, columns=["pair", "rho", "label", "replicate",
                                                               "estimate"])
                    if n_boot else None)
    return SensitivityResult(pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)), notes=notes,
                             fit_info=fit_info)


def _check_boot_options(boot_options, n_boot: int) -> dict:
    """``boot_options`` of :func:`sensitivity`: how the replicates' refits on their resamples are
    split and run (:func:`medflow.bootstrap.bootstrap_ensemble`'s ``chunks`` and ``n_jobs``)."""
    if boot_options is None:
        return {}
    if not isinstance(boot_options, dict):
        raise ValueError(f"boot_options must be a dict such as {{'chunks': 4, 'n_jobs': 2}}, got {boot_options!r}.")
    unknown = sorted(set(boot_options) - {"chunks", "n_jobs"})
    if unknown:
        raise ValueError(f"boot_options may set 'chunks' and 'n_jobs' (how the bootstrap replicates' refits "
                         f"are split and run), not {', '.join(map(repr, unknown))}.")
    out = {}
    chunks = boot_options.get("chunks", 1)
    if isinstance(chunks, bool) or not isinstance(chunks, (int, float, np.integer, np.floating)) \
            or not float(chunks).is_integer() or not 1 <= chunks <= (n_boot or chunks):
        bound = f"between 1 and n_boot ({n_boot})" if n_boot else "of at least 1"
        raise ValueError(f"boot_options['chunks'] must be a whole number {bound}, got {chunks!r}.")
    out["chunks"] = int(chunks)
    if boot_options.get("n_jobs") is not None:
        jobs = boot_options["n_jobs"]
        if isinstance(jobs, bool) or not isinstance(jobs, (int, float, np.integer, np.floating)) \
                or not float(jobs).is_integer() or jobs == 0:
            raise ValueError(f"boot_options['n_jobs'] must be a non-zero whole number (joblib's n_jobs; "
                             f"-1: every CPU), got {jobs!r}.")
        out["n_jobs"] = int(jobs)
    return out


def _rho_assumption(scenario: Sequence[Pair], rho: float) -> str:
    """The assumption behind a row at ``rho != 0``."""
    return (f"the noises of {_scenario_text(scenario)} have correlation rho = {rho:g} (Gaussian copula; "
            "an assumed hidden confounding, not identified from the data)")


def _copula_units(fit, flow: NodeFlows, copula: _Copula, n_mc, generator, weights) -> _Units:
    """Observed units with copula abduction, or ``n_mc`` draws from each member's model."""
    E, d = flow.E, len(fit.variables)
    if n_mc is not None:
        eps = copula.sample(int(n_mc), generator, fit.dtype)
        x = fit._generate(eps, torch.zeros_like(eps), {}, range(d), flow)
        return _Units(x=x, eps=eps, weights=torch.ones(E, int(n_mc), dtype=torch.float64), drawn=True)
    x = fit._rows(fit.data).unsqueeze(0).expand(E, -1, -1)
    eps = copula.abduct(fit, flow, x, generator)
    w = weights.double() if weights is not None else torch.ones(E, x.shape[1], dtype=torch.float64)
    return _Units(x=x, eps=eps, weights=w)


# ==================================================================== the result
def _crossings(rho: np.ndarray, values: np.ndarray) -> list[float]:
    """Where a piecewise-linear curve through ``(rho, values)`` meets zero."""
    out = []
    for k in range(len(rho)):
        if values[k] == 0:
            out.append(float(rho[k]))
        if k + 1 < len(rho) and values[k] * values[k + 1] < 0:
            out.append(float(rho[k] - values[k] * (rho[k + 1] - rho[k]) / (values[k + 1] - values[k])))
    return out


def _nearest_zero(points: list[float]) -> float:
    return min(points, key=abs) if points else math.nan


class SensitivityResult:
    """Effects over a grid of assumed noise correlations.

    Attributes:
        table: one row per (pair set, rho, effect): ``pair``, ``rho`` and the columns of
            :data:`medflow.results.EFFECT_COLUMNS`.
        notes: lines printed under the summary.
        fit_info: refit bookkeeping (``elapsed`` seconds, ``members``, ``epochs_run``, settings).
    """

    def __init__(self, table: pd.DataFrame, notes: Sequence[str] = (), fit_info: dict | None = None):
        missing = [c for c in SENSITIVITY_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"A sensitivity table needs the columns {missing}.")
        self.table = table.loc[:, list(SENSITIVITY_COLUMNS)].reset_index(drop=True)
        self.notes = list(notes)
        self.fit_info = dict(fit_info or {})

    @property
    def pairs(self) -> list[str]:
        """The pair sets, as written in the ``pair`` column."""
        return list(dict.fromkeys(self.table["pair"]))

    @property
    def labels(self) -> list[str]:
        """The effect labels."""
        return list(dict.fromkeys(self.table["label"]))

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy table."""
        return self.table.copy()

    def rho_values(self) -> pd.DataFrame:
        """The rho at which each effect crosses zero (linear interpolation on the grid).

        Returns:
            One row per (pair set, label): ``rho_value``, the crossing of the point estimate
            nearest to rho = 0, and ``rho_value_ci``, the crossing of either interval bound
            nearest to rho = 0 (where the interval starts or stops covering zero). NaN where
            the curve does not cross zero on the grid (or there are no intervals).
        """
        rows = []
        for (pair, label), sub in self.table.groupby(["pair", "label"], sort=False):
            sub = sub.sort_values("rho")
            r = sub["rho"].to_numpy()
            point = _nearest_zero(_crossings(r, sub["estimate"].to_numpy()))
            ci = math.nan
            if sub["ci_lower"].notna().all():
                ci = _nearest_zero(_crossings(r, sub["ci_lower"].to_numpy())
                                   + _crossings(r, sub["ci_upper"].to_numpy()))
            rows.append(dict(pair=pair, label=label, rho_value=point, rho_value_ci=ci))
        return pd.DataFrame(rows, columns=["pair", "label", "rho_value", "rho_value_ci"])

    def at(self, rho: float, pair: str | None = None) -> EffectsResult:
        """The effects at one grid value of ``rho`` (and pair set) as an :class:`EffectsResult`."""
        if pair is None:
            if len(self.pairs) > 1:
                raise ValueError(f"Several pair sets were analysed; choose one with pair= "
                                 f"({', '.join(self.pairs)}).")
            pair = self.pairs[0]
        if pair not in self.pairs:
            raise ValueError(f"No results for pair {pair!r}; the pair sets are {', '.join(self.pairs)}.")
        sub = self.table[(self.table["pair"] == pair) & np.isclose(self.table["rho"], float(rho))]
        if sub.empty:
            grid = ", ".join(f"{v:g}" for v in sorted(set(self.table["rho"])))
            raise ValueError(f"rho = {rho:g} is not on the grid ({grid}).")
        return EffectsResult(sub[list(EFFECT_COLUMNS)], notes=[f"Noise correlation rho = {rho:g} for {pair}."])

    def summary(self, scale: str = "sd") -> str:
        """Estimates by rho (columns) for each pair set, and the rho-values."""
        if scale not in ("raw", "sd"):
            raise ValueError("scale must be 'raw' or 'sd'.")
        col = "estimate" if scale == "raw" else "estimate_sd"
        t = self.table
        first = t.iloc[0]
        unit = "outcome units" if scale == "raw" else "SD of the outcome"
        lines = [f"Sensitivity of the effects of {first['treatment']} on {first['outcome']} "
                 f"({first['a']:g} vs {first['a_ref']:g}; {unit}) to a noise correlation rho (rho-GNF)"]
        with pd.option_context("display.width", 160, "display.max_columns", 40,
                               "display.float_format", "{:.4f}".format):
            for pair in self.pairs:
                sub = t[t["pair"] == pair]
                wide = sub.pivot(index="label", columns="rho", values=col).reindex(self.labels)
                wide.columns = [f"{r:+.2f}" for r in wide.columns]
                lines += ["", f"pair {pair}:", wide.to_string(na_rep=".")]
            rv = self.rho_values().set_index(["pair", "label"])
            lines += ["", "rho at which the effect crosses zero (. = no crossing on the grid):",
                      rv.to_string(na_rep=".")]
        lines += [""] + self.notes
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()

    def plot(self, scale: str = "sd", axes=None):
        """Effect versus rho with intervals, one panel per (effect, pair set); returns the figure."""
        import matplotlib.pyplot as plt

        if scale not in ("raw", "sd"):
            raise ValueError("scale must be 'raw' or 'sd'.")
        sfx = "" if scale == "raw" else "_sd"
        labels, pairs = self.labels, self.pairs
        if axes is None:
            fig, axes = plt.subplots(len(labels), len(pairs), figsize=(3.6 * len(pairs) + 0.6, 2.6 * len(labels)),
                                     squeeze=False, sharex=True)
        else:
            axes = np.asarray(axes, dtype=object).reshape(len(labels), len(pairs))
            fig = axes[0, 0].figure
        rv = self.rho_values().set_index(["pair", "label"])
        for i, label in enumerate(labels):
            for j, pair in enumerate(pairs):
                ax = axes[i, j]
                sub = self.table[(self.table["label"] == label) & (self.table["pair"] == pair)].sort_values("rho")
                r = sub["rho"].to_numpy()
                ax.plot(r, sub[f"estimate{sfx}"], "o-", ms=3)
                if sub[f"ci_lower{sfx}"].notna().all():
                    ax.fill_between(r, sub[f"ci_lower{sfx}"], sub[f"ci_upper{sfx}"], alpha=0.25)
                ax.axhline(0, color="grey", lw=0.8)
                ax.axvline(0, color="grey", lw=0.6, ls=":")
                crossing = rv.loc[(pair, label), "rho_value"]
                if np.isfinite(crossing):
                    ax.axvline(crossing, color="tab:red", lw=0.8, ls="--")
                ax.set_title(f"{label} | {pair}", fontsize=9)
                if i == len(labels) - 1:
                    ax.set_xlabel("noise correlation rho")
                if j == 0:
                    ax.set_ylabel("effect (SD of outcome)" if scale == "sd" else "effect")
        fig.tight_layout()
        return fig
