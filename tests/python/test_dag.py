"""Model syntax, edge lists, adjacency matrices and graph queries."""

import pandas as pd
import pytest

from medflow.dag import DAG, as_dag, format_path, parse_path

BD = "U ~ V + X; W ~ U + X; Y ~ U + X + W"


def test_syntax_parents_order_and_paths():
    g = DAG.from_syntax(BD + "\nV ~~ X  # correlated roots")
    assert g.order == ("V", "X", "U", "W", "Y")
    assert g.parents["W"] == ("U", "X")
    assert g.children["X"] == ("U", "W", "Y")
    assert g.correlated == (("V", "X"),)
    assert sorted(format_path(p) for p in g.paths("X", "Y")) == [
        "X -> U -> W -> Y", "X -> U -> Y", "X -> W -> Y", "X -> Y"]
    assert g.paths("V", "X") == []          # ~~ is not a causal edge
    assert g.descendants("X") == {"U", "W", "Y"}
    assert g.ancestors("W") == {"U", "V", "X"}
    assert g.roots == ("V", "X")


def test_three_input_forms_agree():
    g = DAG.from_syntax(BD)
    edges = [("V", "U"), ("X", "U"), ("U", "W"), ("X", "W"), ("U", "Y"), ("X", "Y"), ("W", "Y")]
    assert as_dag(edges).edges == g.edges or set(as_dag(edges).edges) == set(g.edges)
    adj = g.adjacency()
    assert adj.loc["X", "Y"] == 1 and adj.loc["Y", "X"] == 0   # rows are causes
    assert set(DAG.from_adjacency(adj).edges) == set(g.edges)
    assert set(as_dag(g.to_syntax()).edges) == set(g.edges)


def test_correlated_roots_become_a_chain_for_the_flow():
    g = DAG.from_syntax(BD + "; V ~~ X")
    f = g.with_correlations_as_edges()
    assert f.parents["X"] == ("V",)
    assert "X" not in g.descendants("V")


@pytest.mark.parametrize("model, message", [
    ("A ~ B; B ~ C; C ~ A", r"The model has a cycle: A -> C -> B -> A\."),
    ("A ~ A", r"Self-loop: A cannot cause itself"),
    ("Y ~ X; Y ~ Z", r"'Y' has two equations"),
    ("U ~ X; Y ~ U; U ~~ Y", r"'U ~~ Y': correlated errors are only supported between exogenous .*U and Y have parents.*sensitivity"),
    ("Y ~ 2*X", r"'2\*X' in 'Y ~ 2\*X' is not a variable name"),
    ("Y =~ X", r"Cannot read the statement 'Y =~ X'"),
    ("  # nothing\n", r"The model is empty"),
])
def test_syntax_errors(model, message):
    with pytest.raises(ValueError, match=message):
        DAG.from_syntax(model)


def test_edge_and_adjacency_errors():
    with pytest.raises(ValueError, match=r"The edge X -> Y is given twice"):
        DAG.from_edges([("X", "Y"), ("X", "Y")])
    with pytest.raises(ValueError, match="same variable names"):
        DAG.from_adjacency(pd.DataFrame([[0, 1], [0, 0]], index=["A", "B"], columns=["B", "A"]))
    with pytest.raises(TypeError, match="lavaan-style syntax"):
        as_dag(42)
    with pytest.raises(ValueError, match=r"'Q' is not a variable of the model"):
        DAG.from_syntax(BD).paths("Q", "Y")


def test_parse_path():
    assert parse_path("X -> U -> Y") == ("X", "U", "Y")
    with pytest.raises(ValueError, match="at least two nodes"):
        parse_path("X")


@pytest.mark.parametrize("model, message", [
    ("A ~~ X; X ~~ A; Y ~ A + X", r"^'X ~~ A' repeats 'A ~~ X': declare each correlated pair once\.$"),
    ("Y ~ A + X; A ~~ X; A ~~ X", r"^'A ~~ X' repeats 'A ~~ X': declare each correlated pair once\.$"),
    ("M ~ X; Y ~ M + X; M ~~ X", r"and M has parents\."),
    ([], r"^The model is empty: give at least one edge"),
])
def test_graph_errors_are_clear(model, message):
    with pytest.raises(ValueError, match=message):
        as_dag(model)


def test_isolated_nodes_and_bad_adjacency_entries_are_refused():
    adj = pd.DataFrame([[0, 1, 0], [0, 0, 0], [0, 0, 0]], index=list("XYZ"), columns=list("XYZ"))
    with pytest.raises(ValueError, match=r"^The variable Z has no edge: every model variable needs a "
                                         r"parent, a child or a '~~' correlation\. Remove it"):
        DAG.from_adjacency(adj)
    with pytest.raises(ValueError, match=r"^The variables Z, W have no edge"):
        as_dag(DAG.from_edges([("X", "Y")], nodes=["X", "Y", "Z", "W"]))
    nan_adj = adj.iloc[:2, :2].astype(float)
    nan_adj.loc["Y", "X"] = float("nan")
    with pytest.raises(ValueError, match=r"entry nan at \[Y, X\]; entries must be 1 .* or 0"):
        DAG.from_adjacency(nan_adj)
    two = adj.iloc[:2, :2].copy()
    two.loc["X", "Y"] = 2
    with pytest.raises(ValueError, match=r"entry 2 at \[X, Y\]"):
        DAG.from_adjacency(two)
    assert DAG.from_adjacency(adj.iloc[:2, :2].astype(bool)).edges == (("X", "Y"),)
