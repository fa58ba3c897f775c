"""Estimand specifications: one place that says what each effect compares.

Every effect medflow reports is a contrast of two mean potential outcomes of the
outcome ``Y`` under treatment values ``a`` (active) and ``a_ref`` (reference):

========  ===============================================  =========================  ==================
code      active world                                     reference world            identified when
========  ===============================================  =========================  ==================
TE        ``A = a`` along every path                       ``A = a_ref``              always (adjustment)
NDE       ``a`` along the paths avoiding the mediators     ``A = a_ref``              no recanting witness
NIE       ``A = a``                                        ``a`` along paths avoiding no recanting witness
PSE       ``a`` along the chosen paths                     ``A = a_ref``              no recanting witness
PART      ``a`` along the paths through mediators 1..k     same for 1..k-1            both worlds are
rNDE      ``Y(a, G(a_ref))``: mediators drawn under a_ref  ``Y(a_ref, G(a_ref))``     always
rNIE      ``Y(a, G(a))``                                   ``Y(a, G(a_ref))``         always
CDE       ``do(A = a, M = m)``                             ``do(A = a_ref, M = m)``   always
========  ===============================================  =========================  ==================

An :class:`Estimand` carries both representations the engines need: the pair of
*worlds* the flow evaluates (``hi`` and ``lo``: a path set, a randomized draw of the
mediators, or mediators held at values) and the pair of *path sets* a linear SEM without
interactions traces (``active`` and ``reference``; the effect is ``(a - a_ref)`` times
the difference of their sums of coefficient products). In such a model the
interventional effects equal the natural ones and the controlled direct effect is the
effect along the paths that avoid the held mediators, whatever values they are held at.

Identification (:mod:`medflow.identification`) is decided here too: a contrast of two
path-specific means is identified when neither has a recanting witness; the randomized
interventional effects and the controlled direct effect need no cross-world assumption
and are identified in a DAG without hidden variables.

The default contrast (:func:`default_contrast`) and the mediator-set rule
(:func:`mediator_sets`) are the ones the flow, the linear SEM, sensitivity analysis,
distributional effects and the command line all use.

Example (Blau-Duncan):
    >>> from medflow.dag import as_dag
    >>> from medflow import estimands
    >>> g = as_dag("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X")
    >>> [(e.label, e.identified) for e in estimands.natural(g, "X", "Y", [("W",)], interventional=False)]
    [('TE', True), ('NDE via W', False), ('NIE via W', False)]
    >>> e = estimands.controlled(g, "X", "Y", {"W": 30})[0]
    >>> e.label, e.path_text, e.identified
    ('CDE at W=30', 'X -> U -> Y; X -> Y', True)
    >>> import numpy as np
    >>> estimands.default_contrast(np.arange(10.0))
    (7.0, 2.0, '75th vs 25th percentile')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from medflow import identification
from medflow.dag import DAG, as_dag, format_path, parse_path
from medflow.data import finite_number
from medflow.identification import Identification

__all__ = ["Estimand", "CODES", "LEVEL", "default_contrast", "moments_contrast", "contrast", "mediator_sets",
           "natural", "path_specific", "sequential", "controlled", "interval", "replicate_means",
           "identification_fields"]

Path = tuple[str, ...]

#: Default confidence level of every interval (flow, linear SEM, command line, R), as in
#: statsmodels and lavaan; ``level=`` changes it.
LEVEL: float = 0.95

#: Every estimand code an engine can produce, in the order tables list them.
CODES: tuple[str, ...] = ("TE", "NDE", "NIE", "PSE", "PART", "rNDE", "rNIE", "CDE")

#: The verdict of the estimands that need no cross-world assumption.
_RANDOMIZED = Identification(
    True, (), "", "Randomized interventional effects contrast mediator draws from their law "
    "under a or a_ref given the pre-treatment variables: identified by the g-formula (no "
    "cross-world assumption).")


@dataclass(frozen=True)
class Estimand:
    """One effect: what it contrasts, for the flow and for a linear SEM, and its identification.

    Attributes:
        code: the estimand code (:data:`CODES`).
        label: the row label, e.g. ``"NIE via W"`` or ``"CDE at W=30"``.
        mediators: the mediator set (or held mediators) as ``"U+W"``; ``""`` if none.
        active, reference: path sets whose traced sums a linear SEM without interactions
            subtracts (effect = ``(a - a_ref) * (sum(active) - sum(reference))``).
        hi, lo: the two worlds the flow evaluates: ``("paths", P)`` (the treatment acts with
            ``a`` along the paths ``P`` and ``a_ref`` along the others), ``("rand", t, m, M)``
            (treatment at level ``t`` for the outcome, mediators ``M`` drawn under level
            ``m``; levels are ``"a"`` or ``"a_ref"``) or ``("held", t, ((name, value), ...))``
            (treatment at level ``t``, the named mediators held at the values).
        randomized: drawn mediators (rNDE, rNIE).
        identification: the verdict (:class:`medflow.identification.Identification`).
        held: the held mediator values of a controlled direct effect.
    """

    code: str
    label: str
    mediators: str
    active: tuple[Path, ...]
    reference: tuple[Path, ...]
    hi: tuple
    lo: tuple
    identification: Identification
    randomized: bool = False
    held: tuple[tuple[str, float], ...] = field(default=())

    @property
    def paths(self) -> tuple[Path, ...]:
        """The paths the effect runs along: ``active`` minus ``reference``."""
        return tuple(p for p in self.active if p not in self.reference)

    @property
    def path_text(self) -> str:
        """:attr:`paths` as ``"X -> W -> Y; X -> Y"``."""
        return "; ".join(format_path(p) for p in self.paths)

    @property
    def identified(self) -> bool:
        return self.identification.identified


# ==================================================================== contrasts
def default_contrast(values) -> tuple[float, float, str]:
    """The default ``(a, a_ref, how)`` for a treatment with these observed values.

    A two-valued treatment: its higher vs its lower value (1 vs 0). Otherwise the 75th vs
    the 25th percentile, each taken as the *observed* value nearest to it (numpy's
    ``method="nearest"``). Observed values are used for every treatment, not only discrete
    ones: an interpolated percentile of a count or a coded category (6.75 for x = 0..9) is a
    value the treatment never takes and lies off a discrete node's grid, while for a
    continuous treatment the nearest observed value differs from the interpolated one by
    less than the gap between neighbouring observations. The flow, the linear SEM (fitted
    from data), sensitivity analysis and the command line all use this rule.

    Example:
        >>> default_contrast([0, 1, 1, 0])
        (1.0, 0.0, '1 vs 0')
        >>> default_contrast(np.arange(10))
        (7.0, 2.0, '75th vs 25th percentile')
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("The treatment has no finite values to take a default contrast from; "
                         "give a and a_ref.")
    uniq = np.unique(x)
    if len(uniq) == 2:
        hi, lo = float(uniq[1]), float(uniq[0])
        return hi, lo, "1 vs 0" if (hi, lo) == (1.0, 0.0) else "higher vs lower value of a binary treatment"
    hi, lo = (float(np.quantile(x, q, method="nearest")) for q in (0.75, 0.25))
    if hi == lo:
        raise ValueError(f"The treatment's 25th and 75th percentiles are both {hi:g}; give a and a_ref.")
    return hi, lo, "75th vs 25th percentile"


def moments_contrast(mean: float | None, sd: float) -> tuple[float, float, str]:
    """The default contrast when only moments are known (no percentiles): mean + 1 SD vs mean.

    ``mean=None`` (a correlation or covariance matrix without means) takes the mean as 0.
    """
    m = 0.0 if mean is None else float(mean)
    how = ("mean + 1 SD vs mean" + (", the mean taken as 0 as no means were given" if mean is None else "")
           + "; moments have no percentiles: pass a= and a_ref= for another contrast")
    return m + float(sd), m, how


def contrast(a, a_ref, default) -> tuple[float, float, str]:
    """``(a, a_ref, how)``: the given values (checked), or ``default()`` when neither is given.

    Raises:
        ValueError: when only one of them is given, one is not a finite number, or they are equal.
    """
    if (a is None) != (a_ref is None):
        raise ValueError("Give both a and a_ref, or neither (for the default contrast).")
    if a is None:
        a, a_ref, how = default()
    else:
        a, a_ref, how = finite_number(a, "a"), finite_number(a_ref, "a_ref"), "given"
    if a == a_ref:
        raise ValueError(f"a and a_ref are both {a:g}: the contrast is empty.")
    return float(a), float(a_ref), how


# ==================================================================== mediator sets
def mediator_sets(mediators, dag, treatment: str | None = None,
                  outcome: str | None = None) -> list[tuple[str, ...]]:
    """The mediator-set rule: ``["W", ("W", "U")]`` → ``[("W",), ("U", "W")]``.

    Each element is one set; a set's names are written in causal order without repeats;
    the sets keep the order given. ``None`` means every variable on a directed path from
    ``treatment`` to ``outcome``, one at a time, in causal order. With ``treatment`` and
    ``outcome`` every name is checked to be a mediator (a ``ValueError`` names it).
    """
    g = dag if isinstance(dag, DAG) else as_dag(dag)
    if mediators is None:
        if treatment is None:
            return []
        on_paths = {n for p in g.paths(treatment, outcome) for n in p[1:-1]}
        return [(n,) for n in g.order if n in on_paths]
    if isinstance(mediators, str):
        mediators = [mediators]
    rank = {n: i for i, n in enumerate(g.order)}
    out = []
    for m in mediators:
        group = (m,) if isinstance(m, str) else tuple(m)
        if not group:
            raise ValueError("An empty mediator set was given.")
        if treatment is not None:
            identification.paths_through(g, treatment, outcome, group)  # validates, raises ValueError
        out.append(tuple(sorted(dict.fromkeys(group), key=lambda n: rank.get(n, len(rank)))))
    return out


def _name(group: Sequence[str]) -> str:
    return "+".join(group)


def _verdict(dag, treatment: str, outcome: str, active, reference) -> Identification:
    """A contrast of two path-specific means is identified when both means are."""
    a, b = (identification.check(dag, treatment, outcome, p) for p in (active, reference))
    if a.identified and b.identified:
        return a if active else b
    wit = tuple(n for n in dag.order if n in set(a.witnesses) | set(b.witnesses))
    reason = " ".join(dict.fromkeys(r.reason for r in (a, b) if not r.identified))
    return Identification(False, wit, a.assumption or b.assumption, reason)


def _path_estimand(dag, treatment, outcome, code, label, mediators, active, reference) -> Estimand:
    active, reference = tuple(active), tuple(reference)
    return Estimand(code, label, mediators, active, reference, ("paths", active), ("paths", reference),
                    _verdict(dag, treatment, outcome, active, reference))


# ==================================================================== estimand builders
def natural(dag, treatment: str, outcome: str, groups: Sequence[Sequence[str]],
            interventional: bool = True) -> list[Estimand]:
    """TE and, for each mediator set, NDE and NIE (and rNDE, rNIE with ``interventional``)."""
    g = dag if isinstance(dag, DAG) else as_dag(dag)
    every = tuple(g.paths(treatment, outcome))
    out = [_path_estimand(g, treatment, outcome, "TE", "TE", "", every, ())]
    for group in groups:
        group = tuple(group)
        through = tuple(identification.paths_through(g, treatment, outcome, group))
        avoid = tuple(p for p in every if p not in through)
        name = _name(group)
        out.append(_path_estimand(g, treatment, outcome, "NDE", f"NDE via {name}", name, avoid, ()))
        out.append(_path_estimand(g, treatment, outcome, "NIE", f"NIE via {name}", name, every, avoid))
        if interventional:
            out.append(Estimand("rNDE", f"rNDE via {name}", name, avoid, (),
                                ("rand", "a", "a_ref", group), ("rand", "a_ref", "a_ref", group),
                                _RANDOMIZED, randomized=True))
            out.append(Estimand("rNIE", f"rNIE via {name}", name, every, avoid,
                                ("rand", "a", "a", group), ("rand", "a", "a_ref", group),
                                _RANDOMIZED, randomized=True))
    return out


def path_specific(dag, treatment: str, outcome: str, paths) -> list[Estimand]:
    """The effect along a set of paths (``"PSE: X -> W -> Y; X -> Y"``).

    Raises:
        ValueError: for an empty set or a path that is not a directed path of the graph
            from the treatment to the outcome.
    """
    g = dag if isinstance(dag, DAG) else as_dag(dag)
    identification.check(g, treatment, outcome, [])  # validates the names
    everything = g.paths(treatment, outcome)
    chosen: list[Path] = []
    for p in ([paths] if isinstance(paths, str) else list(paths)):
        path = parse_path(p)
        if path not in everything:
            raise ValueError(f"{format_path(path)} is not a directed path of the model from "
                             f"{treatment} to {outcome}; those are: "
                             f"{'; '.join(map(format_path, everything))}.")
        if path not in chosen:
            chosen.append(path)
    if not chosen:
        raise ValueError(f"paths= must name at least one directed path from {treatment} to "
                         f"{outcome}, e.g. paths=['{format_path(everything[0])}'].")
    label = "PSE: " + "; ".join(map(format_path, chosen))
    return [_path_estimand(g, treatment, outcome, "PSE", label, "", chosen, ())]


def sequential(dag, treatment: str, outcome: str, order) -> list[Estimand]:
    """TE and its sequential decomposition along ordered mediator sets.

    Part ``k`` (``"PART via M_k"``) runs along the paths through ``M_k`` that avoid
    ``M_1..M_{k-1}``: ``E[Y_{Pi_k}] - E[Y_{Pi_{k-1}}]`` with ``Pi_k`` the paths through any of the
    first ``k`` sets; ``"PART direct"`` adds the remaining paths. The parts add up to TE.
    """
    g = dag if isinstance(dag, DAG) else as_dag(dag)
    groups = mediator_sets(order, g, treatment, outcome)
    identification.check_order(groups)
    every = tuple(g.paths(treatment, outcome))
    out = [_path_estimand(g, treatment, outcome, "TE", "TE", "", every, ())]
    before: tuple[Path, ...] = ()
    for group in groups:
        upto = tuple(p for p in every if p in before or set(group).intersection(p[1:-1]))
        name = _name(group)
        out.append(_path_estimand(g, treatment, outcome, "PART", f"PART via {name}", name, upto, before))
        before = upto
    out.append(_path_estimand(g, treatment, outcome, "PART", "PART direct", "", every, before))
    return out


def controlled(dag, treatment: str, outcome: str, m: Mapping[str, float]) -> list[Estimand]:
    """The controlled direct effect ``E[Y(a, m) - Y(a_ref, m)]`` with mediators held at ``m``.

    ``m`` maps each held mediator to its value (``{"W": 30}``); every other variable responds
    to the treatment. The effect runs along the paths that avoid the held mediators. It is
    identified by the g-formula under no unmeasured treatment-outcome and mediator-outcome
    confounding, which a DAG without hidden variables states (no cross-world assumption;
    :func:`medflow.identification.check_controlled`).
    """
    g = dag if isinstance(dag, DAG) else as_dag(dag)
    if not isinstance(m, Mapping) or not m:
        raise ValueError("m= must be a dict of the held mediators and their values, e.g. m={'W': 30}.")
    held = {str(k): finite_number(v, f"m['{k}']") for k, v in m.items()}
    verdict = identification.check_controlled(g, treatment, outcome, list(held))
    rank = {n: i for i, n in enumerate(g.order)}
    held_t = tuple(sorted(held.items(), key=lambda kv: rank[kv[0]]))
    every = tuple(g.paths(treatment, outcome))
    avoid = tuple(p for p in every if not set(held).intersection(p[1:-1]))
    label = "CDE at " + ", ".join(f"{k}={v:g}" for k, v in held_t)
    return [Estimand("CDE", label, _name([k for k, _ in held_t]), avoid, (),
                     ("held", "a", held_t), ("held", "a_ref", held_t), verdict, held=held_t)]


# ==================================================================== row assembly
def replicate_means(values, per: int = 1) -> np.ndarray:
    """Bootstrap replicates from their members' values: each replicate is the mean of its
    ``per`` members, and the replicates are used as they are.

    A replicate averages fewer members than the fit (``per`` against ``K``), so besides the
    sampling spread it carries more optimiser noise than the point estimate. Earlier versions
    scaled that extra noise away (the Monte Carlo correction of Wager, Hastie and Efron, 2014,
    estimated from the members' spread). Measured on 40 (N = 2,000) and 20 (N = 20,700) data
    sets of two designs, the rest of the replicates' spread was not the estimator's sampling
    variance: 0.6 to about 4 times it, by effect and design, so the scaled intervals under-covered
    (pooled 0.79-0.89 for nominal 0.90). Left unscaled, the extra optimiser noise is a margin
    that brought pooled coverage to 0.90-0.94 at 90 % and 0.94-0.97 at 95 %
    (``benchmarks/interval_choice.py``, ``benchmarks/results/README.md``).

    Args:
        values: ``(B * per, ...)`` member values of the replicates, replicate by replicate.
        per: members per replicate.

    Returns:
        The ``(B, ...)`` replicate means.

    Example:
        >>> replicate_means([1.0, 3.0, 2.0, 6.0, 5.0, 7.0], per=2).tolist()
        [2.0, 4.0, 6.0]
    """
    v = np.asarray(values, dtype=float)
    per = int(per)
    if per < 1 or v.shape[0] % per:
        raise ValueError(f"{v.shape[0]} member values do not split into replicates of {per} member(s).")
    return v.reshape(-1, per, *v.shape[1:]).mean(1)


def interval(replicates, level: float) -> tuple[float, float, float]:
    """Standard error and percentile interval ``(se, lower, upper)`` of bootstrap replicates.

    Example:
        >>> se, lo, hi = interval(np.arange(101.0), 0.9)
        >>> round(se, 3), round(lo, 6), round(hi, 6)
        (29.3, 5.0, 95.0)
    """
    reps = np.asarray(replicates, dtype=float)
    if reps.size < 2:
        return math.nan, math.nan, math.nan
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return float(np.std(reps, ddof=1)), float(lo), float(hi)


def identification_fields(estimand: Estimand, assumption: str) -> dict:
    """The ``identified``, ``witness`` and ``assumption`` columns of an estimand's row.

    ``assumption`` is what a non-identified estimate rests on for the method at hand
    (:data:`medflow.results.MONOTONE_ASSUMPTION` for the flow,
    :data:`medflow.linear.LINEAR_ASSUMPTION` for the linear SEM).
    """
    v = estimand.identification
    return dict(identified=v.identified, witness=", ".join(v.witnesses),
                assumption="" if v.identified else assumption)
