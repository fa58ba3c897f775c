"""Fair inference on outcomes: fits whose path-specific effect lies within bounds.

Nabi & Shpitser (2018) define discrimination by a sensitive variable ``A`` on an
outcome ``Y`` as the path-specific effect (PSE) of ``A`` on ``Y`` along "disallowed"
paths, and a fair model as the model KL-closest to the data (the constrained maximum
likelihood) whose PSE lies within bounds ``(lo, hi)``. :func:`fair` solves that problem
for a fitted flow: starting from the unconstrained fit, it maximises the likelihood
of each member's training rows (its cross-fitting folds) by an augmented Lagrangian (full-batch L-BFGS on the penalised
objective, multiplier updates between rounds) over the node flows the PSE depends on (the
outcome and the nodes on the paths from ``A`` to ``Y``); the other nodes keep their
fitted flows. The PSE is estimated differentiably on the fit's rows: each unit's noise
is abducted, the path-specific recursion of :mod:`medflow.effects` runs under autograd
and the outcome enters through its conditional mean given the counterfactual parents
(for a discrete outcome with values ``v_0 < v_1 < ...``,
``E[Y | pa] = v_0 + sum_k (v_k - v_{k-1}) P(Y >= v_k | pa)`` under the threshold model,
for a continuous one by Gauss-Hermite quadrature over its noise).
Discrete nodes on the paths are floored onto their grid, so they pass no
gradient: the constraint is then met through the outcome's flow (and any continuous
mediators), as in the paper's BART experiment where the outcome model was constrained.

A PSE that is not identified (a recanting witness, :func:`medflow.identification.check`)
is refused with the reason: the paper argues that such a request has no repair within
the model.

New units are predicted in the fair world by ``E*[Y | keep]`` (:meth:`FairFit.predict`,
:func:`predict`): the variables in ``keep`` are taken from the unit, the others
averaged over under the model by likelihood weighting (the non-kept ancestors are
drawn from the model given the kept values, each draw weighted by the likelihood of
the kept nodes that have a drawn parent). By default ``keep`` holds the variables
whose flows the constraint left unchanged (for the natural direct effect of race with
priors as the mediator: race, age and sex), so that the kept values are draws from the
fair world too. For the unconstrained fit :func:`predict` defaults to ``E[Y | pa(Y)]``.

:func:`fair_linear` is the linear SEM's counterpart: the natural direct effect of a
linear outcome equation is its coefficient times ``a - a_ref``, so the constraint is a
box constraint on one coefficient and the constrained least squares fit is exact.

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> from medflow.fairness import fair
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 200); m = a + rng.normal(size=200); y = m + a + rng.normal(size=200)
    >>> df = pd.DataFrame(dict(A=a, M=m, Y=y))
    >>> fit = mf.CausalFlow("M ~ A; Y ~ A + M", df).fit(epochs=2, verbose=False)
    >>> res = fair(fit, "A", "Y", paths=["A -> Y"], bounds=(-0.2, 0.2), max_rounds=3, steps=8)
    >>> res.pse_before > 0.5, abs(res.pse_after) < 0.25
    (True, True)
    >>> res.predict(df.head(3)).shape
    (3,)

References:
    Nabi, R. and Shpitser, I. (2018). Fair inference on outcomes. AAAI.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
import torch
from torch import Tensor

from medflow import identification
from medflow.dag import format_path
from medflow.effects import _check_query, _contrast, _Engine, _Units
from medflow.model import FittedFlow
from medflow.training import _nll, log_interval_mass, truncated_normal

__all__ = ["fair", "FairFit", "predict", "fair_linear", "LinearFairFit", "SCALES"]

Path = tuple[str, ...]

#: Scales a PSE can be constrained on.
SCALES = ("difference", "ratio", "odds ratio")

_HERMITE = 24  # Gauss-Hermite nodes for the mean of a continuous outcome


# ==================================================================== checking the request
def _disallowed(dag, sensitive: str, outcome: str, paths, mediators) -> tuple[Path, ...]:
    if (paths is None) == (mediators is None):
        raise ValueError("Give the disallowed paths either as paths= (e.g. paths=['A -> Y']) or "
                         "as mediators= (the allowed mediators: every path avoiding them is "
                         "disallowed), not both and not neither.")
    if mediators is not None:
        chosen = identification.paths_avoiding(dag, sensitive, outcome, mediators)
        if not chosen:
            raise ValueError(f"Every path from {sensitive} to {outcome} goes through the "
                             "mediators given, so no path is disallowed.")
    else:
        items = [paths] if isinstance(paths, str) else list(paths)
        if not items:
            raise ValueError("paths= is empty: give at least one disallowed path.")
        chosen = [identification._check_path(dag, p, sensitive, outcome) for p in items]
    return tuple(dict.fromkeys(tuple(p) for p in chosen))


def _check_bounds(bounds, scale: str) -> tuple[float, float]:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(repr(s) for s in SCALES)}, got {scale!r}.")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be two numbers (lower, upper), got {bounds!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"bounds must be two finite numbers with lower <= upper, got ({lo:g}, {hi:g}).")
    if scale != "difference" and lo <= 0:
        raise ValueError(f"On the {scale} scale the bounds must be positive, got ({lo:g}, {hi:g}).")
    return lo, hi


def _on_paths(dag, sensitive: str, outcome: str) -> list[str]:
    """The nodes whose flows the PSE depends on: every node after A on a path A ⇝ Y."""
    nodes = {n for p in dag.paths(sensitive, outcome) for n in p[1:]}
    return [n for n in dag.order if n in nodes]


def _check_keep(fit: FittedFlow, outcome: str, keep: Iterable[str]) -> tuple[str, ...]:
    keep = [keep] if isinstance(keep, str) else list(keep)
    for name in keep:
        fit._index(name)
    below = set(fit.flow_dag.descendants(outcome)) | {outcome}
    bad = [n for n in keep if n in below]
    if bad:
        raise ValueError(f"keep= may not contain the outcome {outcome} or its descendants; got "
                         f"{', '.join(bad)}.")
    return tuple(n for n in fit.variables if n in keep)


# ==================================================================== the outcome's conditional mean
def _conditional_mean(fit: FittedFlow, flow, j: int, x: Tensor) -> Tensor:
    """``E[V_j | parents]`` (original units, ``(E, B)``) with the parents' values in ``x``."""
    enc = fit.encoding
    loc, scale = enc.loc[j], enc.scale[j]
    if fit.disc_step[j] > 0:
        # E[V] = v_0 + sum_i (v_i - v_{i-1}) P(V >= v_i) over the support points v_i
        lo, step, hi = enc.internal_grid(j)
        points = lo + step * np.arange(round((hi - lo) / step) + 1)      # inside the flow
        values = enc.to_data(points[:, None], [fit.variables[j]])[:, 0]  # the data's units
        out = torch.full(x.shape[:-1], float(values[0]), dtype=torch.float64)
        for k in range(1, len(points)):
            v = torch.full(x.shape[:-1], (points[k] - loc) / scale, dtype=x.dtype)
            out = out + (values[k] - values[k - 1]) * torch.special.ndtr(-flow.forward_node(j, v, x).double())
        return out
    z, w = np.polynomial.hermite_e.hermegauss(_HERMITE)
    w = torch.as_tensor(w / w.sum(), dtype=torch.float64)
    out = 0.0
    for zi, wi in zip(z, w):
        eps = torch.full(x.shape[:-1], float(zi), dtype=x.dtype)
        out = out + wi * flow.inverse_node(j, eps, x).double()
    return out * scale + loc


class _MeanEngine(_Engine):
    """The effects engine's path-specific recursion, ending in the outcome's conditional mean."""

    def _node(self, j: int, x: Tensor) -> Tensor:
        if j == self.Y and self.fit.disc_step[j] > 0:
            return _conditional_mean(self.fit, self.flow, j, x)
        if j == self.Y:  # the unit's own noise, as the effects engine does
            v = self.flow.inverse_node(j, self.units.eps[..., j], x).double()
            return v * self.fit.encoding.scale[j] + self.fit.encoding.loc[j]
        return super()._node(j, x)


def _abduct(fit: FittedFlow, flow, x: Tensor, w: Tensor) -> Tensor:
    """Noise ``(E, N, d)`` with gradient for continuous nodes; discrete nodes by the truncated
    normal draw of :meth:`FittedFlow._abduct` with the fixed uniforms ``w`` (no gradient)."""
    eps, _ = flow(x, x)
    disc = fit.disc_step > 0
    if disc.any():
        with torch.no_grad():
            lo, hi = fit._interval(flow, x, eps)
            draw = truncated_normal(lo, hi, w).to(eps.dtype)
        eps = torch.where(disc, draw, eps)
    return eps


def _pse(spec: _Spec, flow, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-member counterfactual means ``mu_hi``, ``mu_lo`` and the PSE on ``spec.scale``."""
    fit = spec.fit
    eps = _abduct(fit, flow, x, w)
    units = _Units(x=x, eps=eps, weights=torch.ones(x.shape[:2], dtype=torch.float64))
    engine = _MeanEngine(fit, flow, units, spec.sensitive, spec.outcome, spec.a, spec.a_ref,
                         torch.Generator().manual_seed(0))
    mu_hi = engine.path_world(spec.paths).mean(-1)
    mu_lo = engine.path_world(()).mean(-1)
    return mu_hi, mu_lo, _on_scale(mu_hi, mu_lo, spec.scale)


def _on_scale(hi: Tensor, lo: Tensor, scale: str) -> Tensor:
    if scale == "difference":
        return hi - lo
    if scale == "ratio":
        return hi / lo
    return (hi / (1 - hi)) / (lo / (1 - lo))


def _member_rows(fit: FittedFlow, members: int, n: int) -> tuple[Tensor, Tensor | None]:
    """Each member's training and held-out row weights ``(E, N)``: the folds the fit was
    trained with (member ``m`` held out fold ``m``), or every row for training and no
    held-out rows for a fit without recorded folds."""
    from medflow.crossfit import member_weights

    folds = (fit.fit_info or {}).get("folds_of_rows")
    n_folds = (fit.fit_info or {}).get("folds")
    if folds is None or n_folds is None or len(folds) != n:
        return torch.ones(members, n, dtype=torch.float64), None
    train_w, held_w = member_weights(np.asarray(folds), int(n_folds))
    return train_w[:members], held_w[:members]


class _Spec:
    def __init__(self, fit, sensitive, outcome, paths, a, a_ref, scale):
        self.fit, self.sensitive, self.outcome, self.paths = fit, sensitive, outcome, paths
        self.a, self.a_ref, self.scale = a, a_ref, scale


# ==================================================================== the constrained fit
class FairFit:
    """A flow refitted so that the PSE of ``sensitive`` on ``outcome`` lies within bounds.

    Create it with :func:`fair`.

    Attributes:
        fit: the constrained model (a :class:`~medflow.model.FittedFlow`: ``sample``,
            ``effects``, ``path_effects`` ... all answer in the fair world).
        unconstrained: the fit it started from.
        sensitive, outcome: the variables.
        paths: the disallowed paths.
        scale, bounds: the constraint.
        a, a_ref: the contrast of the sensitive variable.
        keep: the variables taken from a new unit by :meth:`predict`.
        constrained_nodes: the nodes whose flows were refitted.
        pse_before, pse_after: the PSE (mean over ensemble members) of the unconstrained and
            the constrained fit, estimated on the fit's rows with their abducted noise.
        pse_refit: the PSE after the unconstrained refit (see ``loglik_before``).
        pse_members: the constrained fit's PSE per ensemble member.
        loglik_before, loglik_after: log-likelihood (nats, summed over the rows named by
            ``loglik_rows``, on the flow's standardized scale: differences are in the data's
            units) of the unconstrained reference and of the constrained fit. Both start from
            the fit passed in and are optimised identically (the refitted nodes' flows,
            full-batch L-BFGS on each member's training rows, the same rounds of the same
            number of iterations); the reference only has the constraint switched off. So
            their difference is the price of the constraint, not optimiser progress: a
            constraint that already holds gives exactly 0, a binding one a positive loss.
        loglik_rows: ``"held-out"`` (each row scored by the member that held it out in the
            fit's cross-fitting, as the members were trained) or ``"in-sample"`` (a fit
            without recorded folds: all rows). n_loglik: the number of those rows.
        loglik_input: the same log-likelihood of the fit passed in (early-stopped).
        loglik_lost: ``loglik_before - loglik_after`` on those rows. Held out, it measures
            how much worse the fair model predicts new rows; it can be smaller than on the
            training rows, even negative on small data, because the unconstrained refit
            (full-batch, no early stopping) overfits more than the constrained one.
        loglik_lost_train: the same difference on the members' training rows (the objective
            the optimiser minimised, scaled to the ``N`` rows; >= 0 up to optimisation error).
        satisfied: whether every member's PSE lies within the bounds (up to ``tol``).
        history: one row per augmented-Lagrangian round.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def predict(self, new_data: pd.DataFrame, keep: Iterable[str] | None = None,
                n_samples: int = 200, seed: int = 0) -> np.ndarray:
        """``E*[Y | keep]`` for each row of ``new_data`` under the fair model.

        Args:
            new_data: rows with (at least) the columns in ``keep``.
            keep: variables taken from the rows (default: :attr:`keep`).
            n_samples: draws of the other variables per row.
            seed: seeds the draws.

        Returns:
            One value per row (a probability for a 0/1 outcome).
        """
        return predict(self.fit, new_data, self.outcome, keep=self.keep if keep is None else keep,
                       n_samples=n_samples, seed=seed)

    def to_frame(self) -> pd.DataFrame:
        """The PSE and the log-likelihood before and after the constraint."""
        lo, hi = self.bounds
        return pd.DataFrame(
            {"unconstrained": [self.pse_before, self.loglik_before],
             "constrained": [self.pse_after, self.loglik_after]},
            index=[f"PSE ({self.scale}), bounds [{lo:g}, {hi:g}]",
                   f"log-likelihood ({self.loglik_rows}, {self.n_loglik} rows)"])

    def summary(self) -> str:
        """A text report of the constrained fit."""
        lo, hi = self.bounds
        paths = "; ".join(format_path(p) for p in self.paths)
        state = "holds" if self.satisfied else "does NOT hold"
        lines = [
            "Fair inference on outcomes (Nabi & Shpitser 2018): constrained maximum likelihood",
            f"Sensitive variable: {self.sensitive} ({self.a:g} vs {self.a_ref:g}); outcome: {self.outcome}",
            f"Disallowed paths: {paths}",
            f"Constraint: {lo:g} <= PSE ({self.scale}) <= {hi:g}; it {state} at the solution.",
            f"Refitted node flows: {', '.join(self.constrained_nodes)}; predictions keep: "
            f"{', '.join(self.keep) or '(nothing)'}",
            f"Augmented Lagrangian: {len(self.history)} rounds, N = {self.n}, ensemble members = {self.E}",
            "",
            self.to_frame().to_string(float_format=lambda v: f"{v:.4f}"),
            f"log-likelihood given up: {self.loglik_lost:.3f} nats on {self.n_loglik} {self.loglik_rows} "
            f"rows ({self.loglik_lost / max(self.n_loglik, 1):.5f} per row); on the training rows "
            f"{self.loglik_lost_train:.3f} nats",
            "  (against the unconstrained optimum reached by the same optimiser from the same start)",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<FairFit {self.sensitive} -> {self.outcome}: PSE ({self.scale}) "
                f"{self.pse_before:.4g} -> {self.pse_after:.4g}, bounds {self.bounds}, "
                f"satisfied={self.satisfied}>")


def fair(fit: FittedFlow, sensitive: str, outcome: str, paths: Iterable | None = None, *,
         mediators: str | Iterable[str] | None = None, bounds: Sequence[float] = (0.0, 0.0),
         scale: str = "difference", keep: Iterable[str] | None = None, a: float | None = None,
         a_ref: float | None = None, seed: int = 0, max_rounds: int = 12, steps: int = 40,
         tol: float = 1e-3, verbose: bool = False) -> FairFit:
    """Refit ``fit`` so that the PSE of ``sensitive`` on ``outcome`` along the disallowed
    paths lies within ``bounds`` (Nabi & Shpitser 2018).

    Args:
        fit: a fitted flow (any number of ensemble members; each is constrained).
        sensitive: the sensitive variable ``A`` (e.g. race).
        outcome: the outcome ``Y``.
        paths: the disallowed paths, e.g. ``["race -> two_year_recid"]``.
        mediators: instead of ``paths``: the allowed mediators; every path that avoids
            them is disallowed (the natural direct effect with respect to them).
        bounds: ``(lower, upper)`` for the PSE on ``scale``.
        scale: ``"difference"`` (``E[Y(pi)] - E[Y(a_ref)]`` in outcome units), ``"ratio"``
            or ``"odds ratio"`` (of the two counterfactual means; a 0/1 outcome).
        keep: variables :meth:`FairFit.predict` takes from a new unit (default: every variable
            whose flow is not refitted, except the outcome's descendants).
        a, a_ref: the contrast (default: 1 vs 0 for a binary variable, else the 75th vs
            25th percentile).
        seed: seeds the abduction of discrete nodes (the fit is deterministic given it).
        max_rounds: augmented-Lagrangian rounds (multiplier updates).
        steps: L-BFGS iterations per round (full batch, strong-Wolfe line search).
        tol: constraint tolerance (on the log scale for ratios, in SD(Y) for differences).
        verbose: print one line per round.

    Raises:
        ValueError: for unknown variables, paths that are not in the graph, bad bounds or
            scale, or a PSE that is not identified (recanting witness).
    """
    if not isinstance(fit, FittedFlow):
        raise TypeError(f"fit must be a fitted CausalFlow (FittedFlow), got {type(fit).__name__}.")
    flow0 = fit._require_fitted()
    _check_query(fit, sensitive, outcome)
    chosen = _disallowed(fit.dag, sensitive, outcome, paths, mediators)
    verdict = identification.check(fit.dag, sensitive, outcome, chosen)
    if not verdict.identified:
        raise ValueError(f"The path-specific effect of {sensitive} on {outcome} along "
                         f"{'; '.join(format_path(p) for p in chosen)} is not identified, so it "
                         f"cannot be constrained: {verdict.reason} Choose a path set without a "
                         "recanting witness (e.g. add the paths through the witness).")
    lo, hi = _check_bounds(bounds, scale)
    j_y = fit._index(outcome)
    enc = fit.encoding
    if scale == "odds ratio" and not (outcome in enc.discrete and enc.lower[j_y] == 0
                                      and enc.upper[j_y] == 1):
        raise ValueError(f"scale='odds ratio' needs a 0/1 outcome; {outcome} takes values in "
                         f"[{enc.lower[j_y]:g}, {enc.upper[j_y]:g}]. Use 'difference' or 'ratio'.")
    a, a_ref, _ = _contrast(fit, sensitive, a, a_ref, False)
    nodes = _on_paths(fit.dag, sensitive, outcome)
    if keep is None:
        below = set(fit.flow_dag.descendants(outcome))
        keep = [n for n in fit.variables if n not in nodes and n not in below]
    keep = _check_keep(fit, outcome, keep)

    spec = _Spec(fit, sensitive, outcome, chosen, a, a_ref, scale)
    x = fit._rows(fit.data).unsqueeze(0).expand(flow0.E, -1, -1)
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.rand(x.shape, generator=gen, dtype=torch.float64)
    interval = fit._bounds()
    u = torch.zeros_like(x)
    train_w, held_w = _member_rows(fit, flow0.E, x.shape[1])

    def row_nll(flow) -> Tensor:  # (E, N): each member's NLL of every row
        return _nll(flow, x, u, fit.disc_step, interval=interval).double()

    def nll(flow) -> Tensor:  # per member, mean per training row (the members' own rows)
        return (row_nll(flow) * train_w).sum(-1) / train_w.sum(-1)

    def violation(pse: Tensor) -> tuple[Tensor, Tensor]:
        """Constraints g <= 0 (below the lower and above the upper bound), well scaled:
        in SD(Y) for differences, on the log scale for ratios."""
        if scale == "difference":
            sd = float(fit.data[outcome].std())
            return (lo - pse) / sd, (pse - hi) / sd
        return math.log(lo) - torch.log(pse), torch.log(pse) - math.log(hi)

    # The optimiser aims inside the bounds by a margin (the augmented Lagrangian approaches
    # an active bound from outside), up to a quarter of their width.
    width = (hi - lo) / float(fit.data[outcome].std()) if scale == "difference" else math.log(hi / lo)
    margin = min(float(tol), width / 4)

    def target(pse: Tensor) -> Tensor:
        return torch.stack(violation(pse)) + margin

    flow = copy.deepcopy(flow0)
    node_mask = torch.zeros(flow.d, dtype=x.dtype)
    for n in nodes:
        node_mask[fit._index(n)] = 1.0

    def minimise(flow, lam: Tensor | None, rho: float, iters: int) -> None:
        """L-BFGS on the NLL plus the augmented-Lagrangian terms (none when ``lam`` is None),
        over the parameters of the refitted nodes."""
        params = [p for p in flow.parameters() if p.requires_grad]
        shapes = [node_mask.reshape(1, -1, *([1] * (p.dim() - 2))) for p in params]
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=int(iters), history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                                tolerance_change=1e-12)

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = nll(flow).double().sum()
            if lam is not None:
                _, _, pse = _pse(spec, flow, x, w)
                g = target(pse)
                loss = loss + ((torch.clamp(lam + rho * g, min=0) ** 2 - lam**2) / (2 * rho)).sum()
            loss.backward()
            for p, m in zip(params, shapes):
                if p.grad is not None:
                    p.grad.nan_to_num_(0.0, 0.0, 0.0).mul_(m)
            return loss

        opt.step(closure)

    with torch.no_grad():
        _, _, pse0 = _pse(spec, flow0, x, w)
    E = flow.E
    lam = torch.zeros(2, E, dtype=torch.float64)
    rho = 10.0
    rows = []
    prev_v = math.inf
    for rnd in range(int(max_rounds)):
        minimise(flow, lam, rho, steps)
        with torch.no_grad():
            _, _, pse = _pse(spec, flow, x, w)
            g = target(pse)
            lam = torch.clamp(lam + rho * g, min=0)
            v = float(torch.stack(violation(pse)).clamp(min=0).max())
            cur = nll(flow)
        rows.append(dict(round=rnd + 1, nll=float(cur.mean()), pse=float(pse.mean()),
                         violation=v, multiplier=float(lam.max()), rho=rho))
        if verbose:
            print(f"round {rnd + 1}: nll/row {float(cur.mean()):.5f}, PSE {float(pse.mean()):.4f}, "
                  f"violation {v:.2e}, rho {rho:g}")
        if v <= tol and rnd >= 1 and rows[-2]["violation"] <= tol:
            break  # feasible in two consecutive rounds
        if v > 0.25 * prev_v and v > tol:
            rho = min(rho * 4, 1e5)
        prev_v = v
    # The reference for the log-likelihood the constraint gives up: the same optimiser from
    # the same start with the constraint switched off, round for round (the same number of
    # L-BFGS runs of the same length), so the difference is the price of the constraint and
    # not optimiser progress. An already satisfied constraint adds nothing to the objective
    # and gives the same path: a loss of 0.
    reference = copy.deepcopy(flow0)
    for _ in rows:
        minimise(reference, None, rho, steps)
    with torch.no_grad():
        _, _, pse1 = _pse(spec, flow, x, w)
        rows_fair, rows_ref, rows_in = row_nll(flow), row_nll(reference), row_nll(flow0)
        _, _, pse_ref = _pse(spec, reference, x, w)
        sat = bool((torch.stack(violation(pse1)) <= tol).all())
    n = x.shape[1]
    held = held_w if held_w is not None else train_w
    n_eval = float(held.sum())
    ll0, ll1 = -float((rows_ref * held).sum()), -float((rows_fair * held).sum())
    lost_train = float(((rows_fair - rows_ref) * train_w).sum() / train_w.sum() * n)
    fair_fit = copy.copy(fit)
    fair_fit.flow = flow
    fair_fit.fit_info = dict(fit.fit_info, fair=dict(
        sensitive=sensitive, outcome=outcome, paths=[format_path(p) for p in chosen],
        bounds=[lo, hi], scale=scale, seed=int(seed)))
    return FairFit(
        fit=fair_fit, unconstrained=fit, sensitive=sensitive, outcome=outcome, paths=chosen,
        scale=scale, bounds=(lo, hi), a=a, a_ref=a_ref, keep=keep, constrained_nodes=tuple(nodes),
        pse_before=float(pse0.mean()), pse_after=float(pse1.mean()),
        pse_members=pse1.detach().numpy().copy(), loglik_before=ll0, loglik_after=ll1,
        loglik_lost=ll0 - ll1, loglik_input=-float((rows_in * held).sum()),
        loglik_rows="held-out" if held_w is not None else "in-sample", n_loglik=int(n_eval),
        loglik_lost_train=lost_train,
        pse_refit=float(pse_ref.mean()), satisfied=sat, history=pd.DataFrame(rows), n=n, E=E, tol=tol,
        identification=verdict)


# ==================================================================== prediction
def predict(fit: FittedFlow, new_data: pd.DataFrame, outcome: str, keep: Iterable[str] | None = None,
            n_samples: int = 200, seed: int = 0) -> np.ndarray:
    """``E[Y | keep]`` under a fitted flow for each row of ``new_data``.

    The variables in ``keep`` are taken from the rows; the others are averaged over under
    the model: the ancestors of the outcome and of the kept variables that are not kept
    are drawn from the model, each draw weighted by the likelihood of the kept variables
    that have a drawn parent (self-normalised over ``n_samples`` draws per row and pooled
    over ensemble members); the outcome enters by its conditional mean given the drawn
    parents. With every parent of the outcome kept (the default, ``keep = pa(Y)``) no
    draw is needed: ``E[Y | pa(Y)]``.

    Args:
        fit: a fitted flow (or :attr:`FairFit.fit`).
        new_data: rows with (at least) the columns in ``keep``.
        outcome: the outcome ``Y``.
        keep: the variables taken from the rows (default: the outcome's parents).
        n_samples: draws per row when something is averaged over.
        seed: seeds the draws.

    Returns:
        One value per row in outcome units (a probability for a 0/1 outcome).
    """
    flow = fit._require_fitted()
    j_y = fit._index(outcome)
    if keep is None:
        keep = fit.flow_dag.parents[outcome]
    keep = _check_keep(fit, outcome, keep)
    if not isinstance(new_data, pd.DataFrame):
        raise TypeError(f"new_data must be a pandas DataFrame, got {type(new_data).__name__}.")
    absent = [c for c in keep if c not in new_data.columns]
    if absent:
        raise ValueError(f"new_data lacks the column(s) {', '.join(absent)} that keep= takes from "
                         "each row.")
    if len(new_data) == 0:
        raise ValueError("new_data has no rows.")
    values = new_data.loc[:, list(keep)].to_numpy(dtype=float) if keep else np.zeros((len(new_data), 0))
    if not np.isfinite(values).all():
        raise ValueError("new_data has missing or non-finite values in the kept columns.")
    kept_idx = [fit._index(c) for c in keep]
    off = fit.encoding.off_grid(values, list(keep)) if keep else []
    if off:
        takes = "; ".join(f"{c} takes {fit.encoding.grid_text(c)}" for c in off)
        raise ValueError(f"new_data has values that the discrete variable(s) {', '.join(off)} "
                         f"never take ({takes}).")
    # what to draw: the non-kept ancestors of the outcome and of the kept variables
    anc: set[str] = set()
    for n in (outcome, *keep):
        anc |= set(fit.flow_dag.ancestors(n))
    draw = [fit._index(n) for n in fit.variables if n in anc and n not in keep]
    weigh = [k for k in kept_idx
             if any(fit._index(p) in draw for p in fit.flow_dag.parents[fit.variables[k]])]
    S = int(n_samples) if draw else 1
    if S < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples}.")
    N, d, E = len(new_data), len(fit.variables), flow.E
    gen = torch.Generator().manual_seed(int(seed))
    std = torch.zeros(N, d, dtype=fit.dtype)
    if keep:
        std[:, kept_idx] = torch.as_tensor(fit.encoding.standardize(values, list(keep)), dtype=fit.dtype)
    noise = {j: torch.randn(E, S, 1, generator=gen, dtype=fit.dtype) for j in draw}
    out = np.empty(N)
    chunk = max(1, 200_000 // S)
    with torch.no_grad():
        for start in range(0, N, chunk):
            rows = std[start:start + chunk]
            B = rows.shape[0]
            x = rows.unsqueeze(0).unsqueeze(0).expand(E, S, B, d).reshape(E, S * B, d).clone()
            for j in draw:  # topological order; the same draws for every row
                eps = noise[j].expand(E, S, B).reshape(E, S * B)
                v = flow.inverse_node(j, eps, x)
                x[..., j] = fit._discretize(j, v) if fit.disc_step[j] > 0 else v
            mean = _conditional_mean(fit, flow, j_y, x).reshape(E, S, B)
            if weigh:
                logp = _node_log_prob(fit, flow, x)[..., weigh].sum(-1).reshape(E, S, B)
                wts = torch.softmax(logp, dim=1)
            else:
                wts = torch.full((E, S, B), 1.0 / S, dtype=torch.float64)
            out[start:start + B] = (wts * mean).sum(1).mean(0).numpy()
    return out


def _node_log_prob(fit: FittedFlow, flow, x: Tensor) -> Tensor:
    """Per-node log-likelihood ``(E, B, d)`` (float64): density for continuous nodes (the
    standardization constant omitted), the threshold model's mass for discrete ones."""
    eps, ladj = flow(x, x)
    dens = (-0.5 * eps**2 - 0.5 * math.log(2 * math.pi) + ladj).double()
    disc = fit.disc_step > 0
    if disc.any():
        dens = torch.where(disc, log_interval_mass(*fit._interval(flow, x, eps)), dens)
    return dens


# ==================================================================== linear SEM counterpart
class LinearFairFit:
    """The linear SEM with the direct effect's coefficient box-constrained; see :func:`fair_linear`.

    Attributes:
        sensitive, outcome, bounds, a, a_ref: the request.
        coef_before, coef_after: the outcome equation (intercept and slopes) by OLS and under
            the constraint.
        pse_before, pse_after: the natural direct effect ``(a - a_ref) * b`` before and after.
        loglik_before, loglik_after, loglik_lost: Gaussian log-likelihood of the outcome
            equation at its ML residual variance (nats).
        satisfied: whether the constrained effect lies within the bounds.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def predict(self, new_data: pd.DataFrame) -> np.ndarray:
        """``E*[Y | pa(Y)]`` from the constrained outcome equation."""
        absent = [c for c in self.parents if c not in new_data.columns]
        if absent:
            raise ValueError(f"new_data lacks the column(s) {', '.join(absent)} (the outcome's parents).")
        X = new_data.loc[:, list(self.parents)].to_numpy(dtype=float)
        c = self.coef_after
        return c["Intercept"] + X @ c[list(self.parents)].to_numpy()

    def to_frame(self) -> pd.DataFrame:
        """The outcome equation's coefficients before and after the constraint."""
        return pd.DataFrame({"unconstrained": self.coef_before, "constrained": self.coef_after})

    def summary(self) -> str:
        lo, hi = self.bounds
        state = "holds" if self.satisfied else "does NOT hold"
        return "\n".join([
            "Fair inference (linear SEM): box constraint on the direct effect's coefficient",
            f"{self.sensitive} -> {self.outcome} ({self.a:g} vs {self.a_ref:g}); "
            f"{lo:g} <= NDE <= {hi:g}; it {state}.",
            f"NDE: {self.pse_before:.4f} -> {self.pse_after:.4f}; log-likelihood given up: "
            f"{self.loglik_lost:.3f} nats",
            "", self.to_frame().to_string(float_format=lambda v: f"{v:.4f}")])

    def __repr__(self) -> str:
        return (f"<LinearFairFit {self.sensitive} -> {self.outcome}: NDE {self.pse_before:.4g} -> "
                f"{self.pse_after:.4g}, bounds {self.bounds}>")


def fair_linear(sem, sensitive: str, outcome: str, bounds: Sequence[float] = (0.0, 0.0), *,
                a: float | None = None, a_ref: float | None = None) -> LinearFairFit:
    """The linear SEM's fair fit: the natural direct effect (the path ``sensitive -> outcome``)
    constrained to ``bounds`` on the difference scale.

    In a linear outcome equation the NDE is ``(a - a_ref) * b`` with ``b`` the coefficient of
    the sensitive variable, so the constrained maximum likelihood is least squares with ``b``
    in a box: OLS when it already lies inside, else OLS of ``Y - b* A`` on the other parents
    with ``b*`` the nearest end of the box (exact; the other equations are unchanged).
    A zero-width box at 0 equals dropping the edge.

    Args:
        sem: a :class:`~medflow.linear.LinearSEM` or its fitted results (from raw data).
        sensitive, outcome: a parent of the outcome and the outcome.
        bounds: ``(lower, upper)`` for the NDE in outcome units.
        a, a_ref: the contrast (default 1 vs 0).

    Example:
        >>> import numpy as np, pandas as pd
        >>> import medflow as mf
        >>> from medflow.fairness import fair_linear
        >>> rng = np.random.default_rng(0)
        >>> a = rng.integers(0, 2, 300); m = a + rng.normal(size=300); y = m + 2 * a + rng.normal(size=300)
        >>> df = pd.DataFrame(dict(A=a, M=m, Y=y))
        >>> res = fair_linear(mf.LinearSEM("M ~ A; Y ~ A + M", df), "A", "Y", bounds=(0, 0))
        >>> round(res.pse_after, 6), res.satisfied
        (0.0, True)
    """
    model = getattr(sem, "_model", sem)
    data = getattr(model, "data", None)
    if data is None:
        raise ValueError("fair_linear() needs a LinearSEM fitted from raw data (data =), not from "
                         "moments: the constrained fit refits the outcome equation.")
    dag = model.dag
    for name, role in ((sensitive, "sensitive variable"), (outcome, "outcome")):
        if name not in dag.parents:
            raise ValueError(f"The {role} '{name}' is not a variable of the model; its variables are "
                             f"{', '.join(dag.order)}.")
    parents = list(dag.parents[outcome])
    if sensitive not in parents:
        raise ValueError(f"There is no edge {sensitive} -> {outcome}: the linear counterpart constrains "
                         "the direct effect, the coefficient of that edge.")
    lo, hi = _check_bounds(bounds, "difference")
    if (a is None) != (a_ref is None):
        raise ValueError("Give both a and a_ref, or neither (for 1 vs 0).")
    a, a_ref = (1.0, 0.0) if a is None else (float(a), float(a_ref))
    if a == a_ref:
        raise ValueError(f"a and a_ref are both {a:g}: the contrast is empty.")
    y = data[outcome].to_numpy(float)
    X = sm.add_constant(data[parents].to_numpy(float), has_constant="add")
    names = ["Intercept", *parents]
    ols = sm.OLS(y, X).fit()
    b0 = pd.Series(np.asarray(ols.params), index=names)
    k = 1 + parents.index(sensitive)
    pse0 = (a - a_ref) * float(b0.iloc[k])
    box = sorted((lo / (a - a_ref), hi / (a - a_ref)))
    b_star = min(max(float(b0.iloc[k]), box[0]), box[1])
    if b_star == float(b0.iloc[k]):
        b1, rss1 = b0.copy(), float(ols.ssr)
    else:
        rest = [i for i in range(X.shape[1]) if i != k]
        sub = sm.OLS(y - b_star * X[:, k], X[:, rest]).fit()
        b1 = pd.Series(0.0, index=names)
        b1.iloc[rest] = np.asarray(sub.params)
        b1.iloc[k] = b_star
        rss1 = float(sub.ssr)
    n = len(y)

    def loglik(rss: float) -> float:
        return -0.5 * n * (math.log(2 * math.pi * rss / n) + 1)

    ll0, ll1 = loglik(float(ols.ssr)), loglik(rss1)
    pse1 = (a - a_ref) * b_star
    return LinearFairFit(sensitive=sensitive, outcome=outcome, bounds=(lo, hi), a=a, a_ref=a_ref,
                         parents=tuple(parents), coef_before=b0, coef_after=b1, pse_before=pse0,
                         pse_after=pse1, loglik_before=ll0, loglik_after=ll1, loglik_lost=ll0 - ll1,
                         satisfied=lo - 1e-12 <= pse1 <= hi + 1e-12)
