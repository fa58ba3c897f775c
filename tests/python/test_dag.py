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
    ("U ~ X; Y ~ U; U ~~ Y", r"'U ~~ Y': correlated errors are only supported between exogenous .*U and Y has parents.*sensitivity"),
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
