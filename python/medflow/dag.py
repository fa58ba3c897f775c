"""Causal graphs: the model specification shared by the flow and the linear SEM.

A model is a directed acyclic graph over named variables, written in
lavaan-style regression syntax, as an edge list or as an adjacency matrix.

Adjacency convention (the only place it is defined): ``adj.loc[parent, child]``
is 1 when there is an edge ``parent -> child``; rows are causes and
columns are effects.

Example:
    >>> from medflow.dag import DAG
    >>> g = DAG.from_syntax("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X")
    >>> g.order
    ('V', 'X', 'U', 'W', 'Y')
    >>> g.parents["Y"]
    ('U', 'X', 'W')
    >>> [format_path(p) for p in g.paths("X", "Y")][:2]
    ['X -> U -> W -> Y', 'X -> U -> Y']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DAG", "as_dag", "require_equation", "format_path", "parse_path"]

Path = tuple[str, ...]
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def format_path(path: Sequence[str]) -> str:
    """Write a directed path as ``"X -> U -> Y"``."""
    return " -> ".join(path)


def parse_path(text: str | Sequence[str]) -> Path:
    """Read a path written as ``"X -> U -> Y"`` (or a sequence of names)."""
    if isinstance(text, str):
        parts = [p.strip() for p in text.split("->")]
    else:
        parts = [str(p).strip() for p in text]
    if len(parts) < 2 or any(not p for p in parts):
        raise ValueError(f"A path needs at least two nodes written as 'A -> B': got {text!r}.")
    return tuple(parts)


@dataclass(frozen=True)
class DAG:
    """A directed acyclic graph with optionally correlated exogenous roots.

    Attributes:
        order: the nodes in a topological order (declaration order breaks ties).
        parents: each node's parents, in declaration order.
        correlated: pairs of root nodes declared with ``~~``.
    """

    order: tuple[str, ...]
    parents: Mapping[str, tuple[str, ...]]
    correlated: tuple[tuple[str, str], ...] = ()
    _children: Mapping[str, tuple[str, ...]] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str]],
        nodes: Sequence[str] | None = None,
        correlated: Iterable[tuple[str, str]] = (),
    ) -> DAG:
        """Build a DAG from ``(parent, child)`` pairs.

        Raises:
            ValueError: on an empty graph, a self-loop, a repeated edge or correlated pair
                or a cycle. (Variables in ``nodes`` without any edge are kept; a model given
                to :func:`as_dag`, the flow or the linear SEM may not have them.)
        """
        names: list[str] = list(dict.fromkeys(str(n) for n in nodes or []))
        for n in names:
            _check_name(n)
        parents: dict[str, list[str]] = {n: [] for n in names}
        for edge in edges:
            if len(edge) != 2:
                raise ValueError(f"An edge is a (parent, child) pair: got {edge!r}.")
            p, c = (str(e) for e in edge)
            for n in (p, c):
                _check_name(n)
                if n not in parents:
                    parents[n] = []
                    names.append(n)
            if p == c:
                raise ValueError(f"Self-loop: {p} cannot cause itself ('{c} ~ {p}').")
            if p in parents[c]:
                raise ValueError(f"The edge {p} -> {c} is given twice.")
            parents[c].append(p)
        corr: list[tuple[str, str]] = []
        for pair in correlated:
            if len(pair) != 2:
                raise ValueError(f"A correlated pair is two variable names: got {pair!r}.")
            a, b = (str(x) for x in pair)
            for n in (a, b):
                _check_name(n)
                if n not in parents:
                    parents[n] = []
                    names.append(n)
            if a == b:
                raise ValueError(f"'{a} ~~ {b}': a variable cannot be correlated with itself.")
            for c, d in corr:
                if {a, b} == {c, d}:
                    raise ValueError(f"'{a} ~~ {b}' repeats '{c} ~~ {d}': declare each correlated "
                                     "pair once.")
            corr.append((a, b))
        if not names:
            raise ValueError("The model is empty: give at least one edge, e.g. 'Y ~ X + M; M ~ X' "
                             "or [('X', 'Y')].")
        order = _toposort(names, parents)
        for a, b in corr:
            nonroot = [n for n in (a, b) if parents[n]]
            if nonroot:
                verb = "has" if len(nonroot) == 1 else "have"
                raise ValueError(
                    f"'{a} ~~ {b}': correlated errors are only supported between exogenous (root) "
                    f"variables, and {' and '.join(nonroot)} {verb} parents. To study unobserved "
                    "confounding between endogenous variables use medflow.sensitivity()."
                )
        return cls(order=order, parents={n: tuple(parents[n]) for n in order}, correlated=tuple(corr))

    @classmethod
    def from_syntax(cls, model: str) -> DAG:
        """Parse lavaan-style syntax: ``Y ~ A + B`` statements and ``A ~~ B`` root correlations.

        Statements are separated by newlines or ``;``; ``#`` starts a comment.
        """
        edges: list[tuple[str, str]] = []
        nodes: list[str] = []
        correlated: list[tuple[str, str]] = []
        seen: set[str] = set()
        for raw in re.split(r"[;\n]", model):
            stmt = raw.split("#", 1)[0].strip()
            if not stmt:
                continue
            if "~~" in stmt:
                lhs, rhs = (s.strip() for s in stmt.split("~~", 1))
                for right in _terms(rhs, stmt):
                    _check_name(lhs, stmt)
                    correlated.append((lhs, right))
                continue
            if stmt.count("~") != 1 or "=~" in stmt or ":=" in stmt:
                raise ValueError(
                    f"Cannot read the statement '{stmt}': write one regression per statement as "
                    "'Y ~ A + B' or a root correlation as 'A ~~ B'."
                )
            lhs, rhs = (s.strip() for s in stmt.split("~"))
            _check_name(lhs, stmt)
            if lhs in seen:
                raise ValueError(
                    f"'{lhs}' has two equations; write all of its parents in one statement "
                    f"('{lhs} ~ A + B')."
                )
            seen.add(lhs)
            nodes.append(lhs)
            for term in _terms(rhs, stmt):
                if term == lhs:
                    raise ValueError(f"Self-loop: {lhs} cannot cause itself ('{stmt}').")
                if term not in nodes:
                    nodes.append(term)
                edges.append((term, lhs))
        if not nodes and not correlated:
            raise ValueError("The model is empty: write statements such as 'Y ~ X + M; M ~ X'.")
        # Parents appear before their children in declaration order where possible.
        return cls.from_edges(edges, nodes=_declared(nodes, edges), correlated=correlated)

    @classmethod
    def from_adjacency(cls, adjacency: pd.DataFrame) -> DAG:
        """Build a DAG from a square DataFrame with ``adjacency.loc[parent, child] == 1``.

        Entries must be 0 or 1 (or booleans); a missing entry is an error, not an edge.
        """
        if not isinstance(adjacency, pd.DataFrame):
            raise TypeError("An adjacency matrix must be a pandas DataFrame with variable names.")
        if list(adjacency.index) != list(adjacency.columns):
            raise ValueError("The adjacency matrix needs the same variable names, in the same order, "
                             "as its index and its columns.")
        names = [str(n) for n in adjacency.columns]
        try:
            values = adjacency.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError("The adjacency matrix has non-numeric entries; entries must be 1 "
                             "(edge from the row to the column) or 0 (no edge).") from None
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"The adjacency matrix has the entry {values[i, j]:g} at [{names[i]}, "
                             f"{names[j]}]; entries must be 1 (edge from the row to the column) or "
                             "0 (no edge).")
        edges = [(names[i], names[j]) for i in range(len(names)) for j in range(len(names)) if values[i, j]]
        return cls.from_edges(edges, nodes=names).check_connected()

    # ------------------------------------------------------------------ queries
    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes in topological order (same as :attr:`order`)."""
        return self.order

    @property
    def children(self) -> Mapping[str, tuple[str, ...]]:
        """Each node's children in topological order."""
        if self._children is None:
            kids = {n: tuple(c for c in self.order if n in self.parents[c]) for n in self.order}
            object.__setattr__(self, "_children", kids)
        return self._children

    @property
    def roots(self) -> tuple[str, ...]:
        """Nodes without parents."""
        return tuple(n for n in self.order if not self.parents[n])

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """All ``(parent, child)`` pairs, children in topological order."""
        return tuple((p, c) for c in self.order for p in self.parents[c])

    def adjacency(self) -> pd.DataFrame:
        """The 0/1 adjacency matrix, ``adj.loc[parent, child] == 1`` for each edge."""
        adj = pd.DataFrame(0, index=list(self.order), columns=list(self.order))
        for p, c in self.edges:
            adj.loc[p, c] = 1
        return adj

    def descendants(self, node: str) -> set[str]:
        """Nodes reachable from ``node`` by a directed path (``node`` excluded)."""
        self._check_node(node)
        out: set[str] = set()
        stack = list(self.children[node])
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.children[n])
        return out

    def ancestors(self, node: str) -> set[str]:
        """Nodes with a directed path into ``node`` (``node`` excluded)."""
        self._check_node(node)
        out: set[str] = set()
        stack = list(self.parents[node])
        while stack:
            n = stack.pop()
            if n not in out:
                out.add(n)
                stack.extend(self.parents[n])
        return out

    def paths(self, source: str, target: str) -> list[Path]:
        """All directed paths from ``source`` to ``target``, as tuples of node names."""
        self._check_node(source)
        self._check_node(target)
        out: list[Path] = []

        def walk(path: list[str]) -> None:
            last = path[-1]
            if last == target:
                out.append(tuple(path))
                return
            for child in self.children[last]:
                walk(path + [child])

        if source != target:
            walk([source])
        return out

    def with_correlations_as_edges(self) -> DAG:
        """The graph the flow factorizes: each ``A ~~ B`` becomes ``A -> B`` (declaration order).

        A Gaussian-copula pair of roots and a chain ``A -> B`` describe the same joint law
        of (A, B); the causal graph used for effects keeps them unconnected.
        """
        if not self.correlated:
            return self
        return DAG.from_edges(list(self.edges) + list(self.correlated), nodes=list(self.order))

    def to_syntax(self) -> str:
        """The model in lavaan-style syntax."""
        lines = [f"{c} ~ {' + '.join(self.parents[c])}" for c in self.order if self.parents[c]]
        lines += [f"{a} ~~ {b}" for a, b in self.correlated]
        lonely = [n for n in self.order if not self.parents[n] and not self.children[n]
                  and not any(n in pair for pair in self.correlated)]
        if lonely:
            raise ValueError(f"Isolated variables cannot be written in model syntax: {lonely}.")
        return "\n".join(lines)

    def check_connected(self) -> DAG:
        """Return the graph unchanged if every variable has an edge or a ``~~`` correlation.

        Raises:
            ValueError: naming the isolated variables (they cannot be part of a causal model:
                nothing causes them, they cause nothing and they cannot be written in syntax).
        """
        in_corr = {n for pair in self.correlated for n in pair}
        lonely = [n for n in self.order if not self.parents[n] and not self.children[n]
                  and n not in in_corr]
        if lonely:
            which, them = (f"The variable {lonely[0]} has", "it") if len(lonely) == 1 else \
                (f"The variables {', '.join(lonely)} have", "them")
            raise ValueError(f"{which} no edge: every model variable needs a parent, a child or a "
                             f"'~~' correlation. Remove {them} from the model or connect {them}.")
        return self

    def _check_node(self, node: str) -> None:
        if node not in self.parents:
            raise ValueError(f"'{node}' is not a variable of the model; its variables are "
                             f"{', '.join(self.order)}.")

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"DAG({'; '.join(self.to_syntax().splitlines())})"


def as_dag(model: str | DAG | pd.DataFrame | Iterable[tuple[str, str]]) -> DAG:
    """Turn model syntax, an edge list, an adjacency DataFrame or a DAG into a :class:`DAG`.

    Raises:
        ValueError: for an unreadable or cyclic model, or a variable without any edge.
    """
    if isinstance(model, DAG):
        return model.check_connected()
    if isinstance(model, str):
        return DAG.from_syntax(model)
    if isinstance(model, pd.DataFrame):
        return DAG.from_adjacency(model)
    try:
        edges = list(model)
    except TypeError:
        raise TypeError(
            "A model is lavaan-style syntax ('Y ~ X + M; M ~ X'), a list of (parent, child) "
            f"pairs or an adjacency DataFrame; got {type(model).__name__}."
        ) from None
    return DAG.from_edges(edges).check_connected()


def require_equation(dag: DAG) -> DAG:
    """``dag`` if at least one variable has a parent; else the error every model class gives.

    A model of ``~~`` statements alone (correlated roots) has no structural equation and
    so no causal effect to estimate: the flow and the linear SEM refuse it alike.
    """
    if not any(dag.parents[n] for n in dag.order):
        raise ValueError("The model has no equation: write at least one regression such as 'Y ~ X'.")
    return dag


# ---------------------------------------------------------------------- helpers
def _terms(rhs: str, stmt: str) -> list[str]:
    terms = [t.strip() for t in rhs.split("+")]
    if not terms or any(not t for t in terms):
        raise ValueError(f"Cannot read the right-hand side of '{stmt}'.")
    for t in terms:
        _check_name(t, stmt)
    return terms


def _check_name(name: str, stmt: str | None = None) -> None:
    if not _NAME.match(name):
        where = f" in '{stmt}'" if stmt else ""
        raise ValueError(f"'{name}'{where} is not a variable name (coefficients, labels and "
                         "operators other than '~', '~~' and '+' are not supported).")


def _declared(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Declaration order with every node placed after the nodes it is first mentioned with."""
    lhs = [n for n in nodes]
    rhs_only = [n for n in nodes if not any(c == n for _, c in edges)]
    return rhs_only + [n for n in lhs if n not in rhs_only]


def _toposort(names: list[str], parents: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Kahn's algorithm; ties broken by position in ``names``. Raises on a cycle."""
    remaining = {n: set(parents[n]) for n in names}
    order: list[str] = []
    while remaining:
        ready = [n for n in names if n in remaining and not remaining[n]]
        if not ready:
            cycle = _find_cycle(remaining)
            raise ValueError(f"The model has a cycle: {' -> '.join(cycle)}. A causal graph must be acyclic.")
        node = ready[0]
        order.append(node)
        del remaining[node]
        for deps in remaining.values():
            deps.discard(node)
    return tuple(order)


def _find_cycle(remaining: Mapping[str, set[str]]) -> list[str]:
    # Follow parent links among the unsorted nodes until a node repeats.
    node = next(iter(remaining))
    trail: list[str] = []
    while node not in trail:
        trail.append(node)
        node = next(p for p in remaining[node] if p in remaining)
    cycle = trail[trail.index(node):] + [node]
    return list(reversed(cycle))
