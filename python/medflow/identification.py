"""Identification of path-specific effects: the recanting-witness check.

A path-specific effect of a treatment A on an outcome Y along a set Π of
directed paths A ⇝ Y is nonparametrically identified in a DAG without hidden
variables iff Π has no recanting witness (Avin, Shpitser & Pearl 2005, IJCAI;
Shpitser 2013, Cognitive Science). For a set of paths (more general than a set
of edges) a node R ∉ {A, Y} is a recanting witness when some directed path
q = A ⇝ R has two continuations R ⇝ Y, one making a path in Π and one a path
not in Π. Then, in the recursion of docs/design.md §3, R must take two counterfactual
values at once (R with the prefix q active, feeding the Π-continuation, and R
with q inactive, feeding the other), whose joint law is cross-world. When no
prefix splits that way every node takes a single counterfactual value and the
effect is given by the edge g-formula. Prefixes matter: in Blau–Duncan with
Π = paths through U, W → Y lies on paths of both kinds, but the prefix X → W
only continues outside Π and X → U → W only inside it, so W is no witness.
The criterion is symmetric in Π and its complement, so natural direct and
indirect effects with respect to the same mediators share one verdict.

Correlated roots (``A ~~ B``) are not causal edges and are ignored here: the
effect of a correlated root is identified by back-door adjustment for its
partner (no latent variable mediates anything), so they are never flagged.

Example (Blau–Duncan):
    >>> from medflow.identification import check, check_mediators
    >>> g = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"
    >>> res = check_mediators(g, "X", "Y", ["W"])
    >>> res.identified, res.witnesses
    (False, ('U',))
    >>> res.reason
    'U is a recanting witness: X -> U -> W -> Y is in the path set but X -> U -> Y is not.'
    >>> check_mediators(g, "X", "Y", ["U"]).identified
    True
    >>> check(g, "X", "Y", ["X -> Y", "X -> W -> Y"]).identified
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from medflow.dag import DAG, as_dag, format_path, parse_path
from medflow.results import MONOTONE_ASSUMPTION

__all__ = ["Identification", "check", "check_mediators", "check_controlled", "check_order",
           "paths_through", "paths_avoiding"]

Path = tuple[str, ...]


@dataclass(frozen=True)
class Identification:
    """The verdict of the recanting-witness check for one path set.

    Attributes:
        identified: True when the effect is a functional of the observed distribution.
        witnesses: the recanting witnesses, in topological order (empty when identified).
        assumption: ``""`` when identified, else what the estimate rests on
            (:data:`medflow.results.MONOTONE_ASSUMPTION`).
        reason: one sentence explaining the verdict.
    """

    identified: bool
    witnesses: tuple[str, ...]
    assumption: str
    reason: str


def check(dag, treatment: str, outcome: str,
          paths: Iterable[str | Sequence[str]]) -> Identification:
    """Recanting-witness check for the effect of ``treatment`` on ``outcome`` along ``paths``.

    Args:
        dag: a :class:`~medflow.dag.DAG` or anything :func:`~medflow.dag.as_dag` accepts.
        treatment, outcome: node names.
        paths: the path set Π, each path a tuple of names or a string ``"X -> U -> Y"``;
            empty for the reference world, all paths for the total effect.

    Raises:
        ValueError: on unknown nodes, ``treatment == outcome``, an outcome that is not a
            descendant of the treatment, or a path that is not a directed path of the graph
            from the treatment to the outcome.
    """
    g = _setup(dag, treatment, outcome)
    chosen = list(dict.fromkeys(_check_path(g, p, treatment, outcome) for p in _path_list(paths)))
    members = set(chosen)
    # n_suffix[v]: number of directed paths v ⇝ outcome. A prefix q = A ⇝ R continues
    # outside Π iff fewer than n_suffix[R] paths of Π start with q; it continues inside iff
    # it is a prefix of a path of Π. No enumeration of all paths is needed.
    n_suffix = {outcome: 1}
    for v in reversed(g.order):
        if v != outcome:
            n_suffix[v] = sum(n_suffix[c] for c in g.children[v])
    count: dict[Path, int] = {}
    first_in: dict[Path, Path] = {}
    for path in chosen:
        for i in range(1, len(path) - 1):
            count[path[: i + 1]] = count.get(path[: i + 1], 0) + 1
            first_in.setdefault(path[: i + 1], path)
    split = [q for q in first_in if count[q] < n_suffix[q[-1]]]
    witnesses = tuple(n for n in g.order if any(q[-1] == n for q in split))
    if not witnesses:
        if not chosen or len(chosen) == n_suffix[treatment]:
            what = "total effect" if chosen else "reference world (empty path set)"
            reason = (f"The {what} of {treatment} on {outcome} is identified by adjustment "
                      "(no recanting witness).")
        else:
            reason = (f"No recanting witness: every directed path from {treatment} to a node "
                      f"continues to {outcome} only inside or only outside the path set, so the "
                      "effect is identified (edge g-formula).")
        return Identification(True, (), "", reason)
    first = witnesses[0]
    prefix = next(q for q in split if q[-1] == first)
    outside = next(q for q in _continuations(g, prefix, outcome) if q not in members)
    example = (f"{format_path(first_in[prefix])} is in the path set but "
               f"{format_path(outside)} is not")
    if len(witnesses) == 1:
        reason = f"{first} is a recanting witness: {example}."
    else:
        names = ", ".join(witnesses[:-1]) + f" and {witnesses[-1]}"
        reason = f"{names} are recanting witnesses; for {first}, {example}."
    return Identification(False, witnesses, MONOTONE_ASSUMPTION, reason)


def check_mediators(dag, treatment: str, outcome: str,
                    mediators: str | Iterable[str]) -> Identification:
    """Check the natural direct/indirect effects with respect to a set of mediators.

    The NIE runs along the paths through any of the mediators and the NDE along the
    others; the criterion is symmetric, so one verdict covers both.
    """
    return check(dag, treatment, outcome, paths_through(dag, treatment, outcome, mediators))


def check_controlled(dag, treatment: str, outcome: str,
                     held: str | Iterable[str]) -> Identification:
    """Identification of the controlled direct effect with the mediators ``held`` fixed.

    ``E[Y(a, m)]`` is an interventional mean, ``do(A = a, M = m)``, with no nested
    counterfactual: no cross-world assumption is needed. It is identified by the g-formula
    when there is no unmeasured treatment-outcome and no unmeasured mediator-outcome
    confounding, which a DAG without hidden variables states (correlated roots ``~~`` are
    adjusted for as pre-treatment variables). So the verdict is always "identified"; the
    check validates the names (each held variable must lie on a directed path from the
    treatment to the outcome).

    Example:
        >>> check_controlled("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X", "X", "Y", ["W"]).identified
        True
    """
    g = _setup(dag, treatment, outcome)
    meds = _check_mediators(g, g.paths(treatment, outcome), treatment, outcome, held)
    names = ", ".join(n for n in g.order if n in meds)
    return Identification(True, (), "", (
        f"The controlled direct effect of {treatment} on {outcome} with {names} held fixed is an "
        "interventional contrast (no cross-world counterfactual): identified by the g-formula "
        "under no unmeasured treatment-outcome and mediator-outcome confounding, as the DAG states."))


def paths_through(dag, treatment: str, outcome: str, mediators: str | Iterable[str]) -> list[Path]:
    """All directed paths ``treatment ⇝ outcome`` that visit at least one of ``mediators``."""
    g = _setup(dag, treatment, outcome)
    everything = g.paths(treatment, outcome)
    meds = _check_mediators(g, everything, treatment, outcome, mediators)
    return [p for p in everything if meds.intersection(p[1:-1])]


def paths_avoiding(dag, treatment: str, outcome: str, mediators: str | Iterable[str]) -> list[Path]:
    """All directed paths ``treatment ⇝ outcome`` that visit none of ``mediators``."""
    g = _setup(dag, treatment, outcome)
    everything = g.paths(treatment, outcome)
    meds = _check_mediators(g, everything, treatment, outcome, mediators)
    return [p for p in everything if not meds.intersection(p[1:-1])]


def check_order(groups: Sequence[Sequence[str]]) -> None:
    """Raise if a mediator appears in more than one element of a decomposition order."""
    if not groups:
        raise ValueError("order needs at least one mediator.")
    seen: set[str] = set()
    for g in groups:
        twice = [m for m in g if m in seen]
        if twice:
            raise ValueError(f"order= names {', '.join(twice)} more than once; each mediator may "
                             "appear once in a sequential decomposition (the parts would count "
                             "its paths twice).")
        seen.update(g)



# ---------------------------------------------------------------------- helpers
def _setup(dag, treatment: str, outcome: str) -> DAG:
    g = dag if isinstance(dag, DAG) else as_dag(dag)  # a graph, not necessarily a model
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in g.parents:
            raise ValueError(f"The {role} '{node}' is not a variable of the model; its variables "
                             f"are {', '.join(g.order)}.")
    if treatment == outcome:
        raise ValueError(f"The treatment and the outcome are both '{treatment}'; they must differ.")
    if outcome not in g.descendants(treatment):
        raise ValueError(f"'{outcome}' is not a descendant of '{treatment}': there is no directed "
                         f"path {treatment} -> ... -> {outcome}, so every effect of {treatment} on "
                         f"{outcome} is zero by assumption.")
    return g


def _continuations(g: DAG, prefix: Path, outcome: str) -> Iterator[Path]:
    """The paths ``prefix ⇝ outcome``, generated lazily (depth first)."""
    if prefix[-1] == outcome:
        yield prefix
        return
    for child in g.children[prefix[-1]]:
        yield from _continuations(g, prefix + (child,), outcome)


def _as_list(items) -> list:
    if isinstance(items, str):
        return [items]
    return list(items)


def _path_list(paths) -> list:
    items = _as_list(paths)
    # A single path given as a sequence of names, e.g. ("X", "U", "Y").
    if len(items) > 1 and all(isinstance(x, str) and "->" not in x for x in items):
        return [tuple(items)]
    return items


def _check_path(g: DAG, path, treatment: str, outcome: str) -> Path:
    p = parse_path(path)
    for node in p:
        if node not in g.parents:
            raise ValueError(f"The path {format_path(p)} mentions '{node}', which is not a "
                             "variable of the model.")
    if p[0] != treatment or p[-1] != outcome:
        raise ValueError(f"The path {format_path(p)} must start at the treatment '{treatment}' "
                         f"and end at the outcome '{outcome}'.")
    for a, b in zip(p, p[1:]):
        if a not in g.parents[b]:
            raise ValueError(f"The path {format_path(p)} is not in the graph: there is no edge "
                             f"{a} -> {b}.")
    return p


def _check_mediators(g: DAG, everything: list[Path], treatment: str, outcome: str,
                     mediators) -> set[str]:
    meds = [str(m) for m in _as_list(mediators)]
    if not meds:
        raise ValueError("Give at least one mediator.")
    on_paths = {n for p in everything for n in p[1:-1]}
    for m in meds:
        if m not in g.parents:
            raise ValueError(f"The mediator '{m}' is not a variable of the model; its variables "
                             f"are {', '.join(g.order)}.")
        if m in (treatment, outcome):
            raise ValueError(f"'{m}' is the treatment or the outcome and cannot be a mediator.")
        if m not in on_paths:
            raise ValueError(f"'{m}' is not a mediator: it lies on no directed path from "
                             f"{treatment} to {outcome}.")
    return set(meds)
