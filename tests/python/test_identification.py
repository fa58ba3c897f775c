"""Tests of the recanting-witness check (medflow.identification).

Every verdict below is derived by hand from the definition: a node R is a recanting
witness for the path set Π when some directed path A ⇝ R continues to Y both inside
and outside Π. The derivation is written next to each case.
"""

from __future__ import annotations

import itertools
import random

import pytest

from medflow.dag import DAG
from medflow.identification import (Identification, check, check_mediators, paths_avoiding,
                                    paths_through)
from medflow.results import MONOTONE_ASSUMPTION

BLAU_DUNCAN = "U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"


def _paths(*texts):
    return [tuple(p.strip() for p in t.split("->")) for t in texts]


# ------------------------------------------------------------------ Blau–Duncan (docs/design.md §1, §4)
def test_blau_duncan_path_enumeration():
    assert paths_through(BLAU_DUNCAN, "X", "Y", ["W"]) == _paths("X -> U -> W -> Y", "X -> W -> Y")
    assert paths_avoiding(BLAU_DUNCAN, "X", "Y", "W") == _paths("X -> U -> Y", "X -> Y")
    assert paths_through(BLAU_DUNCAN, "X", "Y", "U") == _paths("X -> U -> W -> Y", "X -> U -> Y")
    assert paths_avoiding(BLAU_DUNCAN, "X", "Y", ["U", "W"]) == _paths("X -> Y")


def test_blau_duncan_mediator_w_not_identified():
    # Prefix X -> U continues as U -> W -> Y (in Π_W) and as U -> Y (not in Π_W).
    res = check_mediators(BLAU_DUNCAN, "X", "Y", ["W"])
    assert isinstance(res, Identification)
    assert not res.identified
    assert res.witnesses == ("U",)
    assert res.assumption == MONOTONE_ASSUMPTION
    assert res.reason == ("U is a recanting witness: X -> U -> W -> Y is in the path set "
                          "but X -> U -> Y is not.")
    # The NDE's path set (the complement) has the same witness.
    nde = check(BLAU_DUNCAN, "X", "Y", paths_avoiding(BLAU_DUNCAN, "X", "Y", ["W"]))
    assert (nde.identified, nde.witnesses) == (False, ("U",))


def test_blau_duncan_mediator_u_identified():
    # W -> Y lies on paths of both kinds, but the prefixes differ: X -> W continues only
    # outside Π_U (X -> W -> Y) and X -> U -> W only inside (X -> U -> W -> Y); the prefix
    # X -> U continues only inside. No witness.
    res = check(BLAU_DUNCAN, "X", "Y", ["X -> U -> W -> Y", "X -> U -> Y"])
    assert res.identified and res.witnesses == () and res.assumption == ""
    assert "No recanting witness" in res.reason
    assert check(BLAU_DUNCAN, "X", "Y", ["X -> W -> Y", "X -> Y"]).identified
    assert check_mediators(BLAU_DUNCAN, "X", "Y", ["U", "W"]).identified  # joint mediators


@pytest.mark.parametrize("paths, witnesses", [
    (["X -> U -> W -> Y", "X -> U -> Y", "X -> W -> Y", "X -> Y"], ()),   # total effect
    ([], ()),                                                           # reference world
    (["X -> Y"], ()),                  # U, W continue only outside Π
    (["X -> W -> Y"], ()),             # X -> U continues only outside; X -> W only inside
    (["X -> U -> W -> Y"], ("U",)),    # X -> U: U -> W -> Y in, U -> Y out
    (["X -> U -> Y"], ("U",)),
    (["X -> U -> W -> Y", "X -> W -> Y", "X -> Y"], ("U",)),
])
def test_blau_duncan_single_paths(paths, witnesses):
    res = check(BLAU_DUNCAN, "X", "Y", paths)
    assert res.witnesses == witnesses
    assert res.identified == (not witnesses)


def test_total_and_empty_effects_identified():
    g = DAG.from_syntax(BLAU_DUNCAN)
    total = check(g, "X", "Y", g.paths("X", "Y"))
    assert total.identified and "total effect" in total.reason
    empty = check(g, "X", "Y", [])
    assert empty.identified and empty.assumption == ""


# ------------------------------------------------ single mediator, baseline confounder
def test_single_mediator_with_baseline_confounder():
    # C -> A, C -> M, C -> Y, A -> M, A -> Y, M -> Y: the prefix A -> M has the single
    # continuation M -> Y, so the mediation formula identifies NDE and NIE.
    g = "M ~ A + C; Y ~ A + M + C; A ~ C"
    assert check_mediators(g, "A", "Y", "M").identified
    assert check(g, "A", "Y", ["A -> Y"]).identified
    assert check(g, "A", "Y", ["A -> M -> Y"]).identified


# ------------------------------------------------------------------ literature graphs
def test_exposure_induced_confounder_vanderweele_2014():
    # VanderWeele, Vansteelandt & Robins (2014), Epidemiology 25:300-306: an
    # exposure-induced mediator-outcome confounder L (A -> L -> M -> Y, A -> L -> Y,
    # A -> M, A -> Y, baseline C). Natural effects through M are not identified: the
    # prefix A -> L continues as L -> M -> Y (in Π_M) and L -> Y (not in Π_M).
    g = "L ~ A + C; M ~ A + L + C; Y ~ A + L + M + C; A ~ C"
    res = check_mediators(g, "A", "Y", "M")
    assert (res.identified, res.witnesses) == (False, ("L",))
    assert res.reason == ("L is a recanting witness: A -> L -> M -> Y is in the path set "
                          "but A -> L -> Y is not.")
    # Treating L and M jointly as mediators, or L alone, removes the witness.
    assert check_mediators(g, "A", "Y", ["L", "M"]).identified
    assert check_mediators(g, "A", "Y", ["L"]).identified


def test_kite_avin_shpitser_pearl_2005():
    # The "kite" of Avin, Shpitser & Pearl (2005, IJCAI): the effect reaches R along an
    # active edge and R reaches Y along one allowed and one blocked route. X -> R,
    # R -> Z -> Y, R -> Y; Π = {X -> R -> Z -> Y}: R is the recanting witness.
    g = "R ~ X; Z ~ R; Y ~ R + Z"
    res = check(g, "X", "Y", ["X -> R -> Z -> Y"])
    assert res.witnesses == ("R",)
    # Their main result: when every blocked edge leaves the root, the effect is identified.
    # Adding X -> Z and blocking only X -> Z (Π = paths through X -> R) is such a case.
    g2 = "R ~ X; Z ~ R + X; Y ~ R + Z"
    assert check(g2, "X", "Y", ["X -> R -> Z -> Y", "X -> R -> Y"]).identified
    assert check(g2, "X", "Y", ["X -> Z -> Y"]).identified
    assert check(g2, "X", "Y", ["X -> R -> Z -> Y", "X -> Z -> Y"]).witnesses == ("R",)


def test_nabi_shpitser_2018_figure_1b():
    # Nabi & Shpitser (2018, AAAI), Fig. 1(b), with its hidden M-Y confounder left out (the
    # check is for DAGs without hidden variables): baseline C, A -> M, A -> W, A -> Y,
    # M -> W, M -> Y, W -> Y. The PSE along A -> W -> Y is identified by their eq. (3)
    # (edge g-formula), and so is its complement {A -> Y, A -> M -> Y, A -> M -> W -> Y}.
    g = "A ~ C; M ~ A + C; W ~ A + M + C; Y ~ A + M + W + C"
    assert check(g, "A", "Y", ["A -> W -> Y"]).identified
    assert check(g, "A", "Y", ["A -> Y", "A -> M -> Y", "A -> M -> W -> Y"]).identified
    # Natural effects through W: A -> M continues as M -> W -> Y (in) and M -> Y (out).
    assert check_mediators(g, "A", "Y", "W").witnesses == ("M",)
    assert check_mediators(g, "A", "Y", "M").identified
    # Without the hidden M-Y confounder the NDE (A -> Y alone) is identified.
    assert check(g, "A", "Y", ["A -> Y"]).identified


def test_two_sequential_mediators_daniel_2015():
    # Two causally ordered mediators (Daniel, De Stavola, Cousens & Vansteelandt 2015,
    # Biometrics 71:1-14): A -> M1 -> M2 -> Y, A -> M1 -> Y, A -> M2 -> Y, A -> Y. Effects
    # that need M1(a) and M1(a*) together (the prefix A -> M1 split) are not identified.
    g = "M1 ~ A; M2 ~ A + M1; Y ~ A + M1 + M2"
    assert check(g, "A", "Y", ["A -> M2 -> Y"]).identified              # via M2 not via M1
    assert check(g, "A", "Y", ["A -> M1 -> M2 -> Y"]).witnesses == ("M1",)
    assert check(g, "A", "Y", ["A -> M1 -> Y"]).witnesses == ("M1",)
    assert check_mediators(g, "A", "Y", "M2").witnesses == ("M1",)      # through M2
    assert check_mediators(g, "A", "Y", "M1").identified                # through M1
    assert check_mediators(g, "A", "Y", ["M1", "M2"]).identified        # jointly


def test_path_set_not_induced_by_edges():
    # A -> M1 -> R, A -> M2 -> R, R -> Y, R -> Z -> Y. Π = {A -> M1 -> R -> Y,
    # A -> M2 -> R -> Z -> Y} contains no edge set's worth of paths (A -> M1 -> R -> Z -> Y
    # uses only edges of Π but is not in it). Prefixes A -> M1, A -> M2, A -> M1 -> R and
    # A -> M2 -> R each continue inside and outside Π: witnesses M1, M2, R.
    g = "M1 ~ A; M2 ~ A; R ~ M1 + M2; Z ~ R; Y ~ R + Z"
    res = check(g, "A", "Y", ["A -> M1 -> R -> Y", "A -> M2 -> R -> Z -> Y"])
    assert res.witnesses == ("M1", "M2", "R")
    assert res.reason.startswith("M1, M2 and R are recanting witnesses; for M1, ")
    assert check_mediators(g, "A", "Y", "M1").identified


# ------------------------------------------------ cross-check with docs/design.md §3's recursion
def _versions_witnesses(g: DAG, a: str, y: str, pi) -> tuple[str, ...]:
    """Nodes that docs/design.md §3's recursion needs in more than one counterfactual version."""
    desc = g.descendants(a)
    versions: dict[str, set] = {}
    seen = set()

    def visit(node, paths):
        if (node, paths) in seen:
            return
        seen.add((node, paths))
        for p in g.parents[node]:
            if p == a or p not in desc:
                continue
            sub = frozenset(q[:-1] for q in paths if q[-2] == p)
            versions.setdefault(p, set()).add(sub)
            visit(p, sub)

    visit(y, frozenset(pi))
    # Every node between A and Y is reached through each of its continuations to Y, so a
    # node needed in two versions is one whose prefixes split between inside and outside.
    return tuple(n for n in g.order if len(versions.get(n, ())) > 1)


def test_agrees_with_counterfactual_recursion_on_random_graphs():
    rng = random.Random(20240605)
    checked = 0
    while checked < 300:
        n = rng.randint(4, 7)
        names = [f"N{i}" for i in range(n)]
        edges = [(names[i], names[j]) for i, j in itertools.combinations(range(n), 2)
                 if rng.random() < 0.55]
        g = DAG.from_edges(edges, nodes=names)
        a, y = names[0], names[-1]
        if y not in g.descendants(a):
            continue
        everything = g.paths(a, y)
        pi = [p for p in everything if rng.random() < 0.5]
        res = check(g, a, y, pi)
        assert res.witnesses == _versions_witnesses(g, a, y, pi), (g.edges, pi)
        # Symmetry: Π and its complement share their witnesses.
        assert check(g, a, y, [p for p in everything if p not in pi]).witnesses == res.witnesses
        # Avin et al. (2005): blocking only edges that leave the root keeps identification.
        active = {c for c in g.children[a] if rng.random() < 0.5}
        assert check(g, a, y, [p for p in everything if p[1] in active]).identified
        checked += 1


# ------------------------------------------------------------------ inputs
def test_input_forms():
    g = DAG.from_syntax(BLAU_DUNCAN)
    edges = list(g.edges)
    assert check(edges, "X", "Y", "X -> U -> Y").witnesses == ("U",)          # one string
    assert check(g, "X", "Y", ("X", "U", "Y")).witnesses == ("U",)            # one tuple
    assert check(g, "X", "Y", [("X", "U", "Y"), "X -> U -> Y"]).witnesses == ("U",)  # duplicates
    assert check(g.adjacency(), "X", "Y", [("X", "Y")]).identified


def test_correlated_root_treatment_not_flagged():
    # V ~~ X is not a causal edge; V's effect on Y runs through U only.
    assert paths_through(BLAU_DUNCAN, "V", "Y", "U") == _paths("V -> U -> W -> Y", "V -> U -> Y")
    assert check(BLAU_DUNCAN, "V", "Y", paths_through(BLAU_DUNCAN, "V", "Y", "U")).identified
    assert check_mediators(BLAU_DUNCAN, "V", "Y", "W").witnesses == ("U",)


@pytest.mark.parametrize("args, message", [
    (("X", "Y", ["X -> W -> U -> Y"]), "no edge W -> U"),
    (("X", "Y", ["X -> V -> U -> Y"]), "no edge X -> V"),
    (("X", "Y", ["U -> Y"]), "must start at the treatment 'X'"),
    (("X", "Y", ["X -> U -> W"]), "end at the outcome 'Y'"),
    (("X", "Y", ["X -> Q -> Y"]), "'Q', which is not a variable"),
    (("X", "Y", ["X"]), "at least two nodes"),
    (("X", "X", []), "must differ"),
    (("Q", "Y", []), "treatment 'Q' is not a variable"),
    (("X", "Q", []), "outcome 'Q' is not a variable"),
    (("Y", "X", []), "'X' is not a descendant of 'Y'"),
    (("V", "X", []), "'X' is not a descendant of 'V'"),   # correlated, not causal
])
def test_check_errors(args, message):
    with pytest.raises(ValueError, match=message):
        check(BLAU_DUNCAN, *args)


@pytest.mark.parametrize("mediators, message", [
    (["Q"], "mediator 'Q' is not a variable"),
    (["X"], "cannot be a mediator"),
    (["V"], "lies on no directed path from X to Y"),
    ([], "at least one mediator"),
])
def test_mediator_errors(mediators, message):
    with pytest.raises(ValueError, match=message):
        paths_through(BLAU_DUNCAN, "X", "Y", mediators)
    with pytest.raises(ValueError, match=message):
        check_mediators(BLAU_DUNCAN, "X", "Y", mediators)


def test_large_graph_without_enumerating_all_paths():
    # A complete DAG on 30 nodes has 2**28 paths from the first to the last node; the check
    # only looks at the paths it is given.
    names = [f"N{i}" for i in range(30)]
    g = DAG.from_edges(list(itertools.combinations(names, 2)), nodes=names)
    assert check(g, "N0", "N29", ["N0 -> N29"]).identified
    res = check(g, "N0", "N29", ["N0 -> N1 -> N29"])
    assert res.witnesses == ("N1",)
    assert res.reason.startswith("N1 is a recanting witness: N0 -> N1 -> N29 is in the path set "
                                 "but N0 -> N1 -> N2 -> ")
