"""Causal effects from a fitted flow by counterfactual reasoning.

Path-specific counterfactuals follow the recursion of docs/design.md §3: the value of
node ``j`` when the treatment acts with ``a`` along the paths in ``P`` and
with ``a_ref`` along every other path,

    V_j[P] = f_j({p: a if (A -> j) in P else a_ref   for p = A,
                  p: V_p[{q : q + (j,) in P}]        for p a descendant of A,
                  p: observed value                  otherwise},  eps_j),

memoised on ``(j, P)``. The noise ``eps`` of each unit comes from abduction
(the observed units, the default) or from fresh draws (``n_mc``). Total,
natural direct/indirect, path-specific and sequential effects are
differences of such counterfactual means (specified once, for the flow and the
linear SEM alike, in :mod:`medflow.estimands`); the controlled direct effect
holds mediators at given values by intervention and regenerates every other
descendant of the treatment; the randomized interventional
effects (VanderWeele, Vansteelandt & Robins 2014) draw the mediators from
their law under ``a`` or ``a_ref`` given the pre-treatment variables, with
fresh noise for the mediators and the exposure-induced confounders.

Every estimate carries its identification status (:mod:`medflow.identification`).

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400); m = x + rng.normal(size=400); y = m + x + rng.normal(size=400)
    >>> fit = mf.CausalFlow("M ~ X; Y ~ X + M", pd.DataFrame(dict(X=x, M=m, Y=y))).fit(epochs=3, verbose=False)
    >>> res = fit.effects("X", "Y", mediators=["M"], a=1.0, a_ref=0.0)
    >>> list(res.params.index)
    ['TE', 'NDE via M', 'NIE via M', 'rNDE via M', 'rNIE via M']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medflow import estimands, identification
from medflow.bootstrap import bootstrap_ensemble
from medflow.data import finite_number as _number
from medflow.estimands import LEVEL, default_contrast, mediator_sets
from medflow.training import truncated_normal as _truncated_normal
from medflow.results import MONOTONE_ASSUMPTION, EffectsResult, effect_row

__all__ = ["effects", "path_effects", "decompose", "cde", "dose_response", "unit_effects",
           "mc_draws", "MC_TARGET_SD", "MAX_STRATA"]

Path = tuple[str, ...]

#: Why ``at=`` is gone and what replaces it. ``at={"V": 4}`` overwrote V after abduction and
#: left V's descendants (and ``~~`` partners) at their observed values: an effect under
#: do(V = 4) for units otherwise as observed, not the conditional effect given V = 4.
AT_REMOVED = ("at= is no longer supported: it set the variables after abduction, which gives an "
              "effect under an intervention on them rather than the effect conditional on their "
              "values. For conditional effects select the units: where=\"V == 4\" (or a "
              "range such as where=\"V >= 4\") or by=\"V\" for the effects within each value of V.")


# ==================================================================== the counterfactual engine
@dataclass
class _Units:
    """The units effects are averaged over, for every ensemble member."""

    x: Tensor        # (E, N, d) standardized observed (or drawn) values
    eps: Tensor      # (E, N, d) their noise
    weights: Tensor  # (E, N) averaging weights (bootstrap counts x subset)
    drawn: bool = False  # True: the units are draws from the model (n_mc), not observed rows


#: Monte Carlo error the randomized interventional effects aim for, in SD(Y) units: the
#: number of fresh mediator draws per unit (:func:`mc_draws`) is chosen so that it is met
#: with room to spare on the Blau-Duncan design (benchmarks/mc_error.py).
MC_TARGET_SD = 0.005

#: Fresh mediator draws per unit are ``mc_draws(N)``: at least 4 (two antithetic pairs,
#: enough to estimate the Monte Carlo error from the spread within units) and at least
#: ``_MC_TOTAL / N``, so that small data get more draws per unit.
_MC_TOTAL = 8_000
_MC_MAX_DRAWS = 64


def mc_draws(n_units: int) -> int:
    """Fresh mediator draws per unit for the randomized interventional effects (even, 4-64).

    Example:
        >>> mc_draws(20700), mc_draws(2000), mc_draws(600), mc_draws(50)
        (4, 4, 14, 64)
    """
    k = max(4, math.ceil(_MC_TOTAL / max(int(n_units), 1)))
    return int(min(_MC_MAX_DRAWS, k + k % 2))


class _Engine:
    """Counterfactual outcomes for one treatment/outcome pair on a set of units."""

    def __init__(self, fit, flow, units: _Units, treatment: str, outcome: str,
                 a: float, a_ref: float, generator: torch.Generator, n_draws: int | None = None):
        self.fit, self.flow, self.units = fit, flow, units
        self.var = list(fit.variables)
        self.A, self.Y = self.var.index(treatment), self.var.index(outcome)
        self.treatment, self.outcome = treatment, outcome
        self.a = fit._do({treatment: a})[self.A]
        self.a_ref = fit._do({treatment: a_ref})[self.A]
        self.desc = {self.var.index(n) for n in fit.dag.descendants(treatment)}
        self.gen = generator
        self.n_draws = mc_draws(units.x.shape[-2]) if n_draws is None else int(n_draws)
        if self.n_draws < 2 or self.n_draws % 2:
            raise ValueError(f"n_draws must be an even number of at least 2, got {n_draws}.")
        self._memo: dict = {}
        self._draws: dict = {}
        self._z: Tensor | None = None
        self._abduction: tuple | None = None
        self._unit_eps: dict = {}

    # ---- path-specific worlds
    def path_world(self, paths: Iterable[Path]) -> Tensor:
        """Outcome values ``(E, N)`` (standardized) with the treatment acting along ``paths``."""
        return self._value(self.Y, frozenset(tuple(self.var.index(n) for n in p) for p in paths))

    def _value(self, j: int, P: frozenset) -> Tensor:
        key = (j, P)
        if key in self._memo:
            return self._memo[key]
        x = self.units.x.clone()
        for p in self.fit.flow_dag.parents[self.var[j]]:
            k = self.var.index(p)
            if k == self.A:
                x[..., k] = self.a if (self.A, j) in P else self.a_ref
            elif k in self.desc:
                x[..., k] = self._value(k, frozenset(q[:-1] for q in P if q[-2] == k)).to(x.dtype)
        out = self._node(j, x)
        self._memo[key] = out
        return out

    def _node(self, j: int, x: Tensor) -> Tensor:
        """Node ``j``'s value from its unit's noise, given the parents' values in ``x``."""
        v = self.flow.inverse_node(j, self.units.eps[..., j], x)
        return self.fit._discretize(j, v) if self.fit.disc_step[j] > 0 else v

    # ---- controlled worlds
    def controlled_world(self, level: str, held: tuple[tuple[str, float], ...]) -> Tensor:
        """Outcome values ``(E, N)`` under ``do(A = level, M = m)`` for the held mediators ``M``.

        Every other descendant of the treatment is regenerated from the unit's own noise.
        """
        key = ("held", level, held)
        if key not in self._memo:
            do = {self.A: self.a if level == "a" else self.a_ref, **self.fit._do(dict(held), arg="m")}
            x = self.fit._generate(self.units.eps, self.units.x, do, self.desc, self.flow)
            self._memo[key] = x[..., self.Y]
        return self._memo[key]

    # ---- randomized interventional worlds
    def randomized_world(self, a_outcome: str, a_mediator: str, mediators: Sequence[str]) -> Tensor:
        """``Y(a1, G_{a2|C})`` for ``n_draws`` fresh mediator draws per unit: ``(K, E, N)``.

        Draw ``k`` of the mediators comes from their law under ``a2`` given the unit's
        pre-treatment variables (fresh noise for the treatment's descendants). The draws are
        antithetic pairs (noise ``z`` and ``-z``) and the same noise serves every treatment
        level and mediator set (common random numbers), which removes most of the Monte Carlo
        noise from the contrasts without changing what is estimated.
        """
        level = {"a": self.a, "a_ref": self.a_ref}
        idx = tuple(self.var.index(m) for m in mediators)
        key = (a_outcome, a_mediator, idx)
        if key in self._memo:
            return self._memo[key]
        # only the mediators and the treatment's descendants they depend on are drawn
        needed = set(idx) | {self.var.index(n) for m in mediators for n in self.fit.flow_dag.ancestors(m)}
        out = []
        for k in range(self.n_draws):
            mkey = (a_mediator, idx, k)
            if mkey not in self._draws:
                xg = self.fit._generate(self.fresh_noise(self._standard_normal(k)), self.units.x,
                                        {self.A: level[a_mediator]}, self.desc & needed, self.flow)
                self._draws[mkey] = {m: xg[..., m] for m in idx}
            xy = self.fit._generate(self.unit_noise(k), self.units.x, {self.A: level[a_outcome]},
                                    self.desc, self.flow, fixed=self._draws[mkey])
            out.append(xy[..., self.Y])
        self._memo[key] = torch.stack(out)
        return self._memo[key]

    def unit_noise(self, k: int) -> Tensor:
        """The units' own noise ``(E, N, d)`` in randomized draw ``k``.

        Observed units with discrete nodes: each draw redraws the discrete nodes' noise from
        its posterior interval (antithetic uniforms ``w`` and ``1 - w`` in a pair), so the
        randomized effects average over abduction too and their Monte Carlo error covers it.
        Otherwise the units' noise as abducted (or drawn).
        """
        disc = self.fit.disc_step > 0
        if self.units.drawn or not bool(disc.any()):
            return self.units.eps
        if k not in self._unit_eps:
            if self._abduction is None:
                x = self.units.x
                eps, _ = self.flow(x, x)
                w = torch.rand((self.n_draws // 2, *eps.shape), generator=self.gen, dtype=torch.float64)
                self._abduction = (self.fit._interval(self.flow, x, eps), eps, w)
            (lo, hi), eps, w = self._abduction
            u = 1 - w[k // 2] if k % 2 else w[k // 2]
            self._unit_eps[k] = torch.where(disc, _truncated_normal(lo, hi, u).to(eps.dtype), eps)
        return self._unit_eps[k]

    def _standard_normal(self, k: int) -> Tensor:
        """Draw ``k`` of the shared standard-normal noise ``(E, N, d)``; odd draws mirror even ones."""
        if self._z is None:
            shape = (self.n_draws // 2, *self.units.eps.shape)
            self._z = torch.randn(shape, generator=self.gen, dtype=torch.float64)
        z = self._z[k // 2]
        return -z if k % 2 else z

    def fresh_noise(self, z: Tensor) -> Tensor:
        """Fresh noise ``(E, N, d)`` for the randomized mediator draws from standard normal ``z``.

        Independent N(0, 1) noise: ``z`` itself. Only the entries of the treatment's
        descendants are used. Subclasses with dependent noise (:mod:`medflow.sensitivity`)
        map ``z`` to a draw from the noise law given the unit's other noises (``-z`` must
        give the mirror-image draw).
        """
        return z.to(self.units.eps.dtype)

    # ---- averaging
    def mean(self, values: Tensor) -> Tensor:
        """Weighted mean over units per member, in outcome units: ``(E,)``."""
        w = self.units.weights
        if self.fit.encoding.levels[self.Y]:  # mapped levels: average the data's values
            return (self.fit._in_units(self.Y, values) * w).sum(-1) / w.sum(-1)
        m = (values.double() * w).sum(-1) / w.sum(-1)
        return m * self.fit.encoding.scale[self.Y] + self.fit.encoding.loc[self.Y]

    def contrast(self, hi: Tensor, lo: Tensor) -> tuple[Tensor, float]:
        """Per-member mean difference (outcome units) and the Monte Carlo error of their average.

        ``hi``, ``lo``: world values ``(E, N)`` or, for randomized worlds, ``(K, E, N)``.
        """
        est, var = self.member_contrast(hi, lo)
        return est, float(var.sum().sqrt() / len(var))

    def member_contrast(self, hi: Tensor, lo: Tensor) -> tuple[Tensor, Tensor]:
        """Per-member mean difference and Monte Carlo variance, both ``(E,)``.

        The Monte Carlo error is the estimate's spread over the random draws it rests on,
        given the fit and the units:

        * units drawn from the model (``n_mc``): the spread of the unit values over the
          draws (``Var / n_eff``);
        * randomized worlds on observed units: the spread of each unit's antithetic-pair
          averages over its draws (fresh mediator noise and, for discrete nodes, the unit's
          own noise redrawn from its interval);
        * path-specific worlds on observed units: exact (0) with continuous nodes only; with
          discrete nodes (one abduction draw per unit) the spread of the unit values over
          units, an upper bound.
        """
        if self.fit.encoding.levels[self.Y]:  # mapped levels: differences of the data's values
            diff = self.fit._in_units(self.Y, hi) - self.fit._in_units(self.Y, lo)
        else:
            diff = (hi - lo).double() * self.fit.encoding.scale[self.Y]
        w = self.units.weights
        wsum = w.sum(-1)
        draws = diff.dim() == 3
        unit = diff.mean(0) if draws else diff                    # (E, N)
        est = (unit * w).sum(-1) / wsum
        if self.units.drawn or (not draws and bool((self.fit.disc_step > 0).any())):
            return est, ((unit - est[:, None]) ** 2 * w).sum(-1) / wsum * (w**2).sum(-1) / wsum**2
        if not draws:
            return est, torch.zeros_like(est)
        pairs = diff.reshape(diff.shape[0] // 2, 2, *diff.shape[1:]).mean(1)   # (J, E, N)
        if pairs.shape[0] < 2:  # one antithetic pair: no spread to estimate it from
            return est, torch.full_like(est, math.nan)
        within = pairs.var(0, correction=1) / pairs.shape[0]                  # per unit
        return est, (within * w**2).sum(-1) / wsum**2


# ==================================================================== evaluating the estimands
def _world(engine: _Engine, desc: tuple) -> Tensor:
    """The outcome values of one world of an :class:`~medflow.estimands.Estimand` (``hi``/``lo``)."""
    kind = desc[0]
    if kind == "paths":
        return engine.path_world(desc[1])
    if kind == "held":
        return engine.controlled_world(desc[1], desc[2])
    return engine.randomized_world(desc[1], desc[2], desc[3])


#: Bootstrap members evaluated together: the counterfactual worlds of all N units for all
#: members at once take about 0.2 GB per member at N = 20,700 (3.95 GB for 21 members).
_MEMBER_CHUNK = 20


def _flows(fit, n_boot: int, seed: int, verbose: bool, boot_options) -> tuple[list, int]:
    """``[(fitted ensemble, None), (bootstrap members, their counts), ...]`` in chunks of
    members, and the number of members per replicate (:mod:`medflow.bootstrap`)."""
    flows = [(fit._require_fitted(), None)]
    if not n_boot:
        return flows, 1
    opts = dict(boot_options or {})
    ens, weights = bootstrap_ensemble(fit, n_boot=n_boot, seed=seed, verbose=verbose, **opts)
    per = ens.E // n_boot
    step = max(per, _MEMBER_CHUNK // per * per)
    for start in range(0, ens.E, step):
        part = slice(start, min(start + step, ens.E))
        flows.append((ens.members(part), weights[part]))
    return flows, per


def _replicates_note(per: int, k: int) -> str:
    """How the bootstrap replicates were formed, for the results' notes."""
    if per >= k:
        return "Replicates used as they are (each averages as many members as the fit)."
    return (f"Each replicate averages {per} member(s) where the fit averages {k}; the intervals use "
            "the replicates as they are, so they also carry the optimiser noise of the fewer "
            "members (a margin; see medflow.estimands.replicate_means).")


def _check_query(fit, treatment: str, outcome: str) -> None:
    """The treatment and outcome checks of the linear SEM (one source for their messages)."""
    identification._setup(fit.dag, treatment, outcome)


def _contrast(fit, treatment, a, a_ref, extrapolate, data=None) -> tuple[float, float, str]:
    """The contrast (:func:`medflow.estimands.contrast`), inside the treatment's observed range
    unless ``extrapolate``."""
    j = fit.variables.index(treatment)

    def default():
        frame = _reference_frame(fit, data, "the default contrast (or give a and a_ref)")
        return default_contrast(frame[treatment].to_numpy(dtype=float))
    a, a_ref, how = estimands.contrast(a, a_ref, default)
    lo, hi = fit.encoding.lower[j], fit.encoding.upper[j]
    for name, v in (("a", a), ("a_ref", a_ref)):
        if not extrapolate and not lo <= v <= hi:
            raise ValueError(f"{name} = {v:g} is outside the observed range of {treatment} "
                             f"[{lo:g}, {hi:g}]; pass extrapolate=True to allow it.")
    return a, a_ref, how


def _units(fit, flow, n_mc, data, where, generator, weights) -> _Units:
    """Abducted observed units (default), or ``n_mc`` draws from each member's model."""
    E = flow.E
    if data is None and n_mc is None:
        _reference_frame(fit, None, "the units to average over")
    if n_mc is not None:
        if data is not None:
            raise ValueError("Give either n_mc (fresh draws) or data (units to average over), not both.")
        d = len(fit.variables)
        eps = torch.randn(E, int(n_mc), d, generator=generator, dtype=fit.dtype)
        x = fit._generate(eps, torch.zeros_like(eps), {}, range(d), flow)
        w = torch.ones(E, int(n_mc), dtype=torch.float64)
        frame = None
        drawn = True
    else:
        frame = fit.data if data is None else data
        x = fit._rows(frame).unsqueeze(0).expand(E, -1, -1)
        eps = fit._abduct(x, flow, generator)
        w = (weights if weights is not None and data is None else torch.ones(E, len(frame))).double()
        drawn = False
    if where is not None:
        if frame is None:
            raise ValueError("where= selects observed units; it cannot be combined with n_mc.")
        w = w * torch.tensor(_where_mask(frame, where), dtype=torch.float64)
    return _Units(x=x, eps=eps, weights=w, drawn=drawn)


#: Most strata ``by=`` makes (one per value of the variable).
MAX_STRATA = 20
_OPTIONS = ("a", "a_ref", "n_boot", "level", "seed", "n_mc", "data", "where", "at", "by",
            "extrapolate", "verbose", "boot_options")


def _whole(value, arg: str, minimum: int) -> int:
    """A whole number of at least ``minimum``, or a ValueError naming the argument."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating))
    if not ok or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{arg} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def _reference_frame(fit, data, purpose: str) -> pd.DataFrame:
    """``data`` if given, else the fitted rows; an error naming the purpose when neither exists."""
    if data is not None:
        return data
    if fit.data is None:
        raise ValueError(f"This model was saved without its data (save(include_data=False)), so it "
                         f"has no rows for {purpose}: pass the rows as data= (or n_mc= to average over "
                         "draws from the fitted model), or load a model saved with include_data=True.")
    return fit.data


def _model_rows(fit, data, n_mc, seed) -> pd.DataFrame | None:
    """``data``; or, for a model saved without its data and queried with ``n_mc``, ``n_mc``
    draws from the fitted model (seeded by ``seed``), from which the default contrast and
    SD(Y) are taken; else None (the fitted rows are used)."""
    if data is not None or fit.data is not None or n_mc is None:
        return data
    return fit.sample(int(n_mc), seed=int(seed))


def _where_mask(frame: pd.DataFrame, where) -> np.ndarray:
    """A boolean mask over ``frame``'s rows from a query string, a boolean Series (aligned on
    the index) or a boolean vector of the frame's length."""
    n = len(frame)
    if isinstance(where, str):
        try:
            mask = frame.eval(where)
        except Exception as err:  # noqa: BLE001 - pandas raises many kinds
            raise ValueError(f"where={where!r} could not be evaluated on the data "
                             f"({type(err).__name__}: {err}); write a condition on its columns "
                             f"({', '.join(map(str, frame.columns))}), e.g. "
                             f"'{frame.columns[0]} >= 1'.") from None
        if not isinstance(mask, pd.Series):
            raise ValueError(f"where={where!r} is not a condition on the rows (it gives "
                             f"{type(mask).__name__}); write e.g. '{frame.columns[0]} >= 1'.")
    elif isinstance(where, pd.Series):
        if not where.index.is_unique or set(where.index) != set(frame.index):
            raise ValueError(f"where= is a pandas Series whose index does not match the {n} units' "
                             "index; give a Series with the same index as the data (it is aligned "
                             "on it) or a plain boolean vector in row order.")
        mask = where.reindex(frame.index)
    else:
        mask = np.asarray(where)
    if np.asarray(mask).dtype != bool:
        raise ValueError("where= must be a boolean vector (True for the units to keep) or a query "
                         f"string such as 'V >= 4'; got values of type {np.asarray(mask).dtype}.")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n,):
        raise ValueError(f"where= must select among the {n} units (a boolean vector or "
                         "a query string such as 'V >= 4').")
    if not mask.any():
        raise ValueError("where= selects no units.")
    return mask


def _check_options(fit, treatment: str, function: str, options: dict) -> dict:
    """Validate the options of an effect query; returns them with ``where`` as a boolean mask."""
    unknown = [k for k in options if k not in _OPTIONS]
    if unknown:
        raise ValueError(f"{function}() has no option {', '.join(unknown)}; its options are "
                         f"{', '.join(_OPTIONS)}.")
    out = dict(options)
    for arg in ("a", "a_ref"):
        if out.get(arg) is not None:
            out[arg] = _number(out[arg], arg)
    extrapolate = out.get("extrapolate", False)
    if not isinstance(extrapolate, (bool, np.bool_)):
        raise ValueError(f"extrapolate must be True or False, got {extrapolate!r}.")
    level = out.get("level", LEVEL)
    if not 0 < _number(level, "level") < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}.")
    out["seed"] = _whole(out.get("seed", 0), "seed", 0)
    n_boot = out["n_boot"] = _whole(out.get("n_boot", 0), "n_boot", 0)
    if n_boot == 1:
        raise ValueError("n_boot must be 0 (no bootstrap) or at least 2, got 1.")
    if n_boot and fit.data is None:
        _reference_frame(fit, None, "the bootstrap (it refits the model on resampled rows)")
    n_mc, data = out.get("n_mc"), out.get("data")
    if n_mc is not None:
        out["n_mc"] = _whole(n_mc, "n_mc", 1)
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise ValueError(f"data= must be a pandas DataFrame of units, got {type(data).__name__}.")
        if len(data) == 0:
            raise ValueError("data= has no rows; give the units to average over.")
        if n_mc is not None:
            raise ValueError("Give either n_mc (fresh draws) or data (units to average over), not both.")
    if n_mc is None and data is None:
        _reference_frame(fit, None, "the units to average over")
    if out.get("at") is not None:
        raise ValueError(AT_REMOVED)
    frame = None if n_mc is not None else (data if data is not None else fit.data)
    where = out.get("where")
    if where is not None:
        if frame is None:
            raise ValueError("where= selects observed units; it cannot be combined with n_mc.")
        out["where"] = _where_mask(frame, where)
    if out.get("by") is not None:
        _check_by(fit, treatment, out["by"], frame)
    return out


def _check_by(model, treatment: str, by, frame: pd.DataFrame | None) -> None:
    """``by=`` names a pre-treatment variable of ``model`` (a fitted flow or linear SEM) with at
    most :data:`MAX_STRATA` values among the observed units ``frame`` (``None``: draws)."""
    variables = list(model.dag.order)
    if not isinstance(by, str) or by not in variables:
        raise ValueError(f"by= must name a variable of the model ({', '.join(variables)}), got {by!r}.")
    _check_pretreatment(model, treatment, [by], "by=")
    if frame is None:
        raise ValueError("by= makes strata of observed units; it cannot be combined with n_mc.")
    levels = len(pd.unique(frame[by]))
    if levels > MAX_STRATA:
        raise ValueError(f"by={by!r} has {levels} distinct values; by= estimates effects within "
                         f"each value and allows at most {MAX_STRATA}. Use where= for ranges "
                         "(e.g. where='V >= 4').")


def _by_strata(frame: pd.DataFrame, by: str, mask=None) -> list[tuple[str, np.ndarray]]:
    """``(label suffix, selected rows)`` for each observed value of ``by`` within ``mask``
    (a boolean vector; default all rows), empty strata left out; labels read ``"TE | V=4"``."""
    out = []
    for value in sorted(frame[by].unique()):
        sel = (frame[by] == value).to_numpy()
        if mask is not None:
            sel = sel & np.asarray(mask, dtype=bool)
        if sel.any():
            out.append((f" | {by}={value:g}", sel))
    return out


def _check_pretreatment(fit, treatment, names, arg) -> None:
    post = [n for n in names if n == treatment or n in fit.dag.descendants(treatment)]
    if post:
        raise ValueError(f"{arg} may only name pre-treatment variables (not {treatment} or its "
                         f"descendants): {', '.join(post)}.")


def _run(fit, treatment, outcome, specs_fn, *, a=None, a_ref=None, n_boot=0, level=LEVEL, seed=0,
         n_mc=None, data=None, where=None, at=None, by=None, extrapolate=False, verbose=True,
         boot_options=None, notes=()) -> EffectsResult:
    _check_query(fit, treatment, outcome)
    ref = _model_rows(fit, data, n_mc, seed)
    a, a_ref, how = _contrast(fit, treatment, a, a_ref, extrapolate, ref)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}.")
    if at is not None:
        raise ValueError(AT_REMOVED)
    specs = specs_fn()
    if by is not None:                  # checked by _check_options (_check_by) on the way in
        frame = fit.data if data is None else data
        tables, draws = [], []
        mask = None if where is None else _where_mask(frame, where)
        for suffix, sel in _by_strata(frame, by, mask):
            sub = _run(fit, treatment, outcome, specs_fn, a=a, a_ref=a_ref, n_boot=n_boot, level=level,
                       seed=seed, data=data, where=sel, extrapolate=True, verbose=verbose,
                       boot_options=boot_options)
            t = sub.table
            t["label"] = t["label"] + suffix
            tables.append(t)
            if sub.draws is not None:
                draws.append(sub.draws.set_axis(list(t["label"]), axis=1))
        return EffectsResult(pd.concat(tables, ignore_index=True),
                             notes=[f"Effects within strata of {by}."],
                             draws=pd.concat(draws, axis=1) if draws else None)

    gen = torch.Generator().manual_seed(int(seed))
    flows, per = _flows(fit, n_boot, seed, verbose, boot_options)
    estimates, mc = {}, {}
    for k, (flow, weights) in enumerate(flows):
        units = _units(fit, flow, n_mc, data, where, gen, weights)
        with torch.no_grad():
            # bootstrap members: one antithetic pair of randomized draws (their Monte Carlo
            # error adds little to the replicates' spread)
            engine = _Engine(fit, flow, units, treatment, outcome, a, a_ref, gen, n_draws=2 if k else None)
            for s in specs:
                est, err = engine.contrast(_world(engine, s.hi), _world(engine, s.lo))
                estimates.setdefault(s.label, []).append(est.numpy())
                if k == 0:
                    mc[s.label] = err
    sd_y = float(_reference_frame(fit, ref, "SD of the outcome")[outcome].std())
    if n_mc is not None:
        n_units = int(n_mc)
    elif where is not None:                       # the units selected, not all the rows
        n_units = int(np.asarray(where, dtype=bool).sum())
    else:
        n_units = len(_reference_frame(fit, data, "the units"))
    rows, draw_cols = [], {}
    for s in specs:
        point = float(estimates[s.label][0].mean())  # the fit's members, averaged
        se = lo = hi = np.nan
        if n_boot:
            reps = estimands.replicate_means(np.concatenate(estimates[s.label][1:]), per)
            draw_cols[s.label] = reps
            se, lo, hi = estimands.interval(reps, level)
        rows.append(effect_row(
            estimand=s.code, label=s.label, path=s.path_text, treatment=treatment, outcome=outcome,
            mediators=s.mediators, a=a, a_ref=a_ref, estimate=point, sd_outcome=sd_y, std_error=se,
            ci_lower=lo, ci_upper=hi, level=level if n_boot else np.nan, mc_error=mc[s.label],
            **estimands.identification_fields(s, MONOTONE_ASSUMPTION),
            method="flow", n_boot=n_boot, n=n_units,
        ))
    over = f"{n_mc} draws from the fitted model" if n_mc is not None else f"{n_units} observed units"
    boot = (f"{n_boot} bootstrap refits (each the fit's procedure on its resample, from scratch), "
            f"{level:.0%} percentile intervals" if n_boot else "no bootstrap (n_boot=0)")
    info = [f"Contrast: {treatment} = {a:g} vs {a_ref:g} ({how}); SD({outcome}) = {sd_y:.4g}.",
            f"Averaged over {over} and the fit's {flows[0][0].E} ensemble member(s); {boot}."]
    if n_boot:
        info.append(_replicates_note(per, flows[0][0].E))
    return EffectsResult(pd.DataFrame(rows), notes=info + list(notes),
                         draws=pd.DataFrame(draw_cols) if n_boot else None)


# ==================================================================== public functions
def effects(fit, treatment: str, outcome: str, mediators=None, *, interventional: bool = True,
            **options) -> EffectsResult:
    """Total effect and, for each mediator set, natural and interventional direct/indirect effects.

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        treatment, outcome: variable names.
        mediators: ``"W"``, ``["W", "U"]`` (one set each) or ``[("U", "W")]`` (a joint set);
            default: every variable on a path from the treatment to the outcome, one at a time.
        interventional: also report rNDE/rNIE (randomized interventional analogues).
        a, a_ref: active and reference treatment values (default
            :func:`medflow.estimands.default_contrast`: 1 vs 0 for a binary treatment, else the
            observed values nearest its 75th and 25th percentiles).
        n_boot: bootstrap refits (0 = none) for standard errors and percentile intervals.
        level: interval level (default :data:`medflow.estimands.LEVEL`, 0.95, as statsmodels and
            lavaan).
        seed: seeds abduction of discrete nodes, fresh draws and the bootstrap. The randomized
            effects average :func:`mc_draws` antithetic fresh mediator draws per unit; the
            table's ``mc_error`` says how far another seed moves an estimate (about).
        n_mc: average over this many draws from the model instead of the observed units. It
            also serves a model saved without its data (``save()``'s default): the default
            contrast and SD(Y) then come from ``n_mc`` draws from the fitted model (seeded by
            ``seed``), so no rows are needed.
        data: average over these rows instead of the fitted data.
        where: boolean vector or query string selecting the units: conditional effects,
            e.g. ``where="V >= 4"`` averages over the observed units with ``V >= 4``.
        by: a pre-treatment variable; effects within each of its observed values (the
            conditional effects given ``V = v`` for every ``v``).
        at: removed; passing it raises a ``ValueError`` (see :data:`AT_REMOVED`). Conditional
            effects are averages over observed units selected with ``where=`` or ``by=``.
        extrapolate: allow a, a_ref outside the observed range.

    Returns:
        An :class:`~medflow.results.EffectsResult`.
    """
    _check_query(fit, treatment, outcome)
    if not isinstance(interventional, (bool, np.bool_)):
        raise ValueError(f"interventional must be True or False, got {interventional!r}.")
    options = _check_options(fit, treatment, "effects", options)
    groups = mediator_sets(mediators, fit.dag, treatment, outcome)  # validates the names
    return _run(fit, treatment, outcome,
                lambda: estimands.natural(fit.dag, treatment, outcome, groups, interventional), **options)


def path_effects(fit, treatment: str, outcome: str, paths, **options) -> EffectsResult:
    """The effect along a set of paths: ``E[Y_paths] - E[Y(a_ref)]``.

    Args:
        paths: paths such as ``["X -> W -> Y", "X -> U -> W -> Y"]`` (all from the treatment
            to the outcome); other arguments as in :func:`effects`.
    """
    _check_query(fit, treatment, outcome)
    options = _check_options(fit, treatment, "path_effects", options)
    specs = estimands.path_specific(fit.dag, treatment, outcome, paths)
    return _run(fit, treatment, outcome, lambda: specs, **options)


def decompose(fit, treatment: str, outcome: str, order, **options) -> EffectsResult:
    """Sequential path decomposition for ordered mediators; the parts add up to the total effect.

    Part ``k`` is ``E[Y_{Pi_k}] - E[Y_{Pi_{k-1}}]`` where ``Pi_k`` holds the paths through any
    of the first ``k`` mediators; the last part ("direct") adds the remaining paths
    (:func:`medflow.estimands.sequential`).
    """
    _check_query(fit, treatment, outcome)
    options = _check_options(fit, treatment, "decompose", options)
    specs = estimands.sequential(fit.dag, treatment, outcome, order)
    return _run(fit, treatment, outcome, lambda: specs, **options)


def cde(fit, treatment: str, outcome: str, m, **options) -> EffectsResult:
    """Controlled direct effect ``E[Y(a, m) - Y(a_ref, m)]``: the mediators held fixed by intervention.

    The held mediators are set to the values ``m`` in both worlds; the treatment is set to
    ``a`` or ``a_ref`` and every other variable responds to it (each unit with its own noise,
    from abduction). The effect runs along the paths that avoid the held mediators. It is
    identified by the g-formula under no unmeasured treatment-outcome and mediator-outcome
    confounding, as the DAG states, without cross-world assumptions
    (:func:`medflow.identification.check_controlled`). With interactions it depends on ``m``.

    Args:
        fit: a :class:`~medflow.model.FittedFlow`.
        treatment, outcome: variable names.
        m: the held mediators and their values, e.g. ``{"W": 30}`` (inside the observed range
            unless ``extrapolate=True``, on the grid of a discrete mediator).
        **options: ``a``, ``a_ref``, ``n_boot``, ``level``, ``seed``, ``n_mc``, ``data``,
            ``where``, ``by``, ``extrapolate``, ``verbose``, ``boot_options`` as in :func:`effects`.

    Returns:
        An :class:`~medflow.results.EffectsResult` with one row, estimand ``"CDE"``, labelled
        ``"CDE at W=30"``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> import medflow as mf
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=400); m = x + rng.normal(size=400); y = m + x + rng.normal(size=400)
        >>> fit = mf.CausalFlow("M ~ X; Y ~ X + M", pd.DataFrame(dict(X=x, M=m, Y=y))).fit(epochs=3, verbose=False)
        >>> list(fit.cde("X", "Y", m={"M": 0.0}, a=1.0, a_ref=0.0).params.index)
        ['CDE at M=0']
    """
    _check_query(fit, treatment, outcome)
    options = _check_options(fit, treatment, "cde", options)
    specs = estimands.controlled(fit.dag, treatment, outcome, m)
    fit._do(dict(specs[0].held), extrapolate=bool(options.get("extrapolate", False)), arg="m")
    return _run(fit, treatment, outcome, lambda: specs, **options)


def dose_response(fit, treatment: str, outcome: str, grid=None, *, n_boot: int = 0, level: float = LEVEL,
                  seed: int = 0, n_mc=None, extrapolate: bool = False, verbose: bool = True,
                  boot_options=None, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """``E[Y(a)]`` over a grid of treatment values (default: 5th to 95th percentile, 19 points).

    Args:
        data: average over these rows instead of the fitted data. A model saved without its
            data needs ``data=`` or ``n_mc=`` (then the default grid and SD(Y) come from
            ``n_mc`` draws from the fitted model).

    Returns:
        A DataFrame with ``a``, ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper`` and the
        same in SD(Y) units (``*_sd``), one row per grid value.
    """
    _check_query(fit, treatment, outcome)
    checked = _check_options(fit, treatment, "dose_response", dict(
        n_boot=n_boot, level=level, seed=seed, n_mc=n_mc, extrapolate=extrapolate, data=data))
    n_boot, seed, n_mc = checked["n_boot"], checked["seed"], checked.get("n_mc")
    disc = treatment in fit.encoding.discrete
    ref = _model_rows(fit, data, n_mc, seed)
    if grid is None:
        vals = _reference_frame(fit, ref, "the default grid (or give grid=)")[treatment].to_numpy()
        grid = np.quantile(vals, np.linspace(0.05, 0.95, 19), method="nearest" if disc else "linear")
        grid = np.unique(grid)
    try:
        grid = np.asarray(grid, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("grid= must be a list of numbers (treatment values).") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("grid= must be a non-empty list of treatment values, e.g. grid=[0, 1, 2].")
    if not np.isfinite(grid).all():
        raise ValueError("grid= must hold finite numbers only.")
    j = fit.variables.index(treatment)
    if not extrapolate and (grid.min() < fit.encoding.lower[j] or grid.max() > fit.encoding.upper[j]):
        raise ValueError(f"The grid leaves the observed range of {treatment} "
                         f"[{fit.encoding.lower[j]:g}, {fit.encoding.upper[j]:g}]; pass extrapolate=True.")
    gen = torch.Generator().manual_seed(int(seed))
    flows, per = _flows(fit, n_boot, seed, verbose, boot_options)
    means = []
    for flow, weights in flows:
        units = _units(fit, flow, n_mc, data, None, gen, weights)
        rows = []
        with torch.no_grad():
            for value in grid:
                eng = _Engine(fit, flow, units, treatment, outcome, value, value, gen)
                rows.append(eng.mean(eng.path_world(())).numpy())
        means.append(np.stack(rows, axis=-1))  # (E, G)
    sd_y = float(_reference_frame(fit, ref, "SD of the outcome")[outcome].std())
    out = pd.DataFrame({"a": grid, "estimate": means[0].mean(0)})
    alpha = (1 - level) / 2
    if n_boot:
        reps = estimands.replicate_means(np.concatenate(means[1:]), per)
        out["std_error"] = reps.std(0, ddof=1)
        out["ci_lower"], out["ci_upper"] = np.quantile(reps, [alpha, 1 - alpha], axis=0)
    else:
        out["std_error"] = out["ci_lower"] = out["ci_upper"] = np.nan
    for c in ("estimate", "std_error", "ci_lower", "ci_upper"):
        out[f"{c}_sd"] = out[c] / sd_y
    out.attrs.update(treatment=treatment, outcome=outcome, level=level, n_boot=n_boot)
    return out


def unit_effects(fit, treatment: str, outcome: str, data: pd.DataFrame, mediators=None, *,
                 a=None, a_ref=None, seed: int = 0, extrapolate: bool = False) -> pd.DataFrame:
    """Unit-level counterfactual outcomes for the given rows.

    Returns one row per input row with ``Y(a)``, ``Y(a_ref)``, their difference ``TE`` and, for
    each mediator set ``M``, ``Y(a, M(a_ref))`` and the unit's ``NDE via M`` / ``NIE via M``.
    For discrete nodes the noise is a draw from its posterior interval, so unit-level values
    of discrete outcomes are single draws.

    Unit-level effects are never identified from the observed distribution (only averages
    can be): they rest on the monotone single-noise assumption
    (:data:`medflow.results.MONOTONE_ASSUMPTION`), which lets abduction recover each unit's
    noise. The result says so in ``attrs``: ``identified=False`` and ``assumption``.
    """
    _check_query(fit, treatment, outcome)
    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        raise ValueError("data= must be a pandas DataFrame with at least one row (the units).")
    a, a_ref, _ = _contrast(fit, treatment, a, a_ref, extrapolate, data)
    seed = _whole(seed, "seed", 0)
    gen = torch.Generator().manual_seed(int(seed))
    flow = fit._require_fitted()
    units = _units(fit, flow, None, data, None, gen, None)
    eng = _Engine(fit, flow, units, treatment, outcome, a, a_ref, gen)
    loc, scale = fit.encoding.loc[eng.Y], fit.encoding.scale[eng.Y]
    if fit.encoding.levels[eng.Y]:  # mapped levels: the data's values, averaged over members
        conv = lambda t: fit._in_units(eng.Y, t).mean(0).numpy()  # noqa: E731
    else:
        conv = lambda t: t.double().mean(0).numpy() * scale + loc  # noqa: E731  (members averaged)
    every = fit.dag.paths(treatment, outcome)
    with torch.no_grad():
        hi, lo = conv(eng.path_world(every)), conv(eng.path_world(()))
        out = pd.DataFrame({f"{outcome}(a)": hi, f"{outcome}(a_ref)": lo, "TE": hi - lo}, index=data.index)
        for g in mediator_sets(mediators, fit.dag, treatment, outcome):
            through = identification.paths_through(fit.dag, treatment, outcome, g)
            cross = conv(eng.path_world([p for p in every if p not in through]))
            name = "+".join(g)
            out[f"{outcome}(a, {name}(a_ref))"] = cross
            out[f"NDE via {name}"] = cross - lo
            out[f"NIE via {name}"] = hi - cross
    out.attrs.update(a=a, a_ref=a_ref, identified=False, assumption=MONOTONE_ASSUMPTION)
    return out
