"""Plots and the report folder written by the ``medflow`` command line.

Each ``plot_*`` function draws one figure with matplotlib and returns it (and
saves it when given a path); :func:`write_report` writes a dict of tables as
CSV files and a dict of figures as PNG files into one folder. Nothing here
fits a model: the inputs are the fitted objects and tables of
:mod:`medflow.model`, :mod:`medflow.linear` and :mod:`medflow.results`.

Example:
    >>> import tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from medflow.report import plot_dag, write_report
    >>> fig = plot_dag("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     files = write_report(tmp, tables={"t": pd.DataFrame({"a": [1]})}, figures={"dag": fig})
    ...     sorted(p.name for p in files)
    ['dag.png', 't.csv']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from medflow.dag import DAG, as_dag
from medflow.results import EffectsResult, forest_plot

__all__ = ["plot_dag", "plot_forest", "plot_dose_response", "plot_training", "write_report"]


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _layout(dag: DAG) -> dict[str, tuple[float, float]]:
    """Nodes in columns by their longest distance from a root, spread vertically in a column.

    A column with a single node is shifted up or down (alternating) so that arrows that skip
    a column do not run through it.
    """
    depth: dict[str, int] = {}
    for node in dag.order:
        depth[node] = 1 + max((depth[p] for p in dag.parents[node]), default=-1)
    columns: dict[int, list[str]] = {}
    for node in dag.order:
        columns.setdefault(depth[node], []).append(node)
    last = max(columns)
    pos = {}
    for d, nodes in columns.items():
        offset = 0.0
        if len(nodes) == 1 and 0 < d < last:
            offset = 0.5 if d % 2 else -0.5
        for k, node in enumerate(nodes):
            pos[node] = (float(d), (len(nodes) - 1) / 2 - k + offset)
    return pos


def _bend(p0, p1, others, clearance: float = 0.3) -> float:
    """Curvature (matplotlib ``arc3`` rad) for an arrow p0 -> p1: 0 unless it passes near a node."""
    p0, p1 = np.asarray(p0), np.asarray(p1)
    seg = p1 - p0
    rad = 0.0
    for q in others:
        q = np.asarray(q)
        t = float(np.clip((q - p0) @ seg / (seg @ seg), 0.0, 1.0))
        if 0.0 < t < 1.0 and np.linalg.norm(p0 + t * seg - q) < clearance:
            side = np.sign(seg[0] * (q - p0)[1] - seg[1] * (q - p0)[0]) or 1.0
            rad = 0.3 * side  # bend away from the node
    return rad


def _arrow(ax, p0, p1, rad: float, radius: float, **style) -> None:
    """An arc3 arrow from the rim of the circle at p0 to the rim of the circle at p1."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    perp = np.array([d[1], -d[0]])
    start_dir = d / 2 + rad * perp  # tangents of the quadratic Bezier curve at its ends
    end_dir = d / 2 - rad * perp
    a = p0 + radius * start_dir / np.linalg.norm(start_dir)
    b = p1 - radius * end_dir / np.linalg.norm(end_dir)
    ax.annotate("", xy=tuple(b), xytext=tuple(a),
                arrowprops=dict(shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={rad}", **style))


def plot_dag(model, coefficients: Mapping[tuple[str, str], float] | None = None,
             labels: Mapping[str, str] | None = None, path: str | Path | None = None,
             title: str | None = None) -> Figure:
    """Draw the causal graph: arrows for edges, a dashed two-headed arc for ``~~`` pairs.

    Args:
        model: anything :func:`medflow.dag.as_dag` accepts.
        coefficients: optional ``{(parent, child): value}`` written on the arrows
            (for example standardized path coefficients).
        labels: optional long names, listed under the graph.
        path: save the figure here (PNG) when given.
        title: figure title.
    """
    dag = as_dag(model)
    pos = _layout(dag)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    span_x, span_y = max(xs) - min(xs) + 1.2, max(ys) - min(ys) + 1.4
    fig = Figure(figsize=(max(2.0 * span_x, 4.0), max(2.0 * span_y, 2.5) + (0.25 * len(labels or {}))))
    ax = fig.subplots()
    radius = 0.2
    for child in dag.order:
        for parent in dag.parents[child]:
            p0, p1 = pos[parent], pos[child]
            rad = _bend(p0, p1, [q for n, q in pos.items() if n not in (parent, child)])
            _arrow(ax, p0, p1, rad, radius, arrowstyle="-|>", color="0.25", lw=1.2, mutation_scale=14)
            if coefficients is not None and (parent, child) in coefficients:
                (x0, y0), (x1, y1) = p0, p1
                # midpoint of the quadratic Bezier curve arc3 draws
                mx = (x0 + x1) / 2 + 0.5 * rad * (y1 - y0)
                my = (y0 + y1) / 2 - 0.5 * rad * (x1 - x0)
                ax.text(mx, my, f"{coefficients[(parent, child)]:.3f}", ha="center", va="center",
                        fontsize=9, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    for a, b in dag.correlated:
        _arrow(ax, pos[a], pos[b], 0.4, radius, arrowstyle="<|-|>", color="0.45", lw=1.0, ls="--",
               mutation_scale=12)
    for node, (x, y) in pos.items():
        ax.add_patch(Circle((x, y), radius, fc="#dbe8f5", ec="#1f4e79", lw=1.4, zorder=3))
        ax.text(x, y, node, ha="center", va="center", fontsize=12, fontweight="bold", zorder=4)
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_aspect("equal")
    ax.axis("off")
    if labels:
        caption = "\n".join(f"{n}: {labels[n]}" for n in dag.order if n in labels)
        ax.text(0.0, -0.02, caption, transform=ax.transAxes, ha="left", va="top", fontsize=9, color="0.25")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_forest(results: Sequence[EffectsResult], truth: Mapping[str, float] | None = None,
                path: str | Path | None = None, title: str | None = None) -> Figure:
    """Forest plot of several results (e.g. flow vs linear SEM) in SD(Y) units.

    Args:
        results: the results to draw, one marker colour per method
            (:func:`medflow.results.forest_plot`).
        truth: optional ``{label: value in SD(Y)}`` drawn as black crosses.
        path: save the figure here when given.
        title: figure title.
    """
    frame = pd.concat([r.table for r in results], ignore_index=True)
    labels = list(dict.fromkeys(frame["label"]))
    fig = Figure(figsize=(7.5, 0.42 * len(labels) + 1.4))
    ax = fig.subplots()
    forest_plot(results, ax=ax, scale="sd")
    if truth:
        ys = [k for k, lbl in enumerate(labels) if lbl in truth]
        ax.scatter([truth[labels[k]] for k in ys], ys, marker="x", color="black", zorder=5, label="truth")
        ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_dose_response(curve: pd.DataFrame, linear: pd.DataFrame | None = None,
                       truth: pd.DataFrame | None = None, treatment: str = "X", outcome: str = "Y",
                       path: str | Path | None = None) -> Figure:
    """The dose–response curve ``E[Y(a)]`` of the flow, with the linear SEM's line and the truth.

    Args:
        curve: :meth:`FittedFlow.dose_response` output (``a``, ``estimate``, ``ci_lower``,
            ``ci_upper``); intervals are shaded when present.
        linear: optional DataFrame ``a``, ``estimate`` (the linear SEM's line).
        truth: optional DataFrame ``a``, ``truth``.
        treatment, outcome: axis labels.
        path: save the figure here when given.
    """
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    ax.plot(curve["a"], curve["estimate"], "o-", ms=3.5, label="flow")
    if "ci_lower" in curve and curve["ci_lower"].notna().all():
        ax.fill_between(curve["a"], curve["ci_lower"], curve["ci_upper"], alpha=0.25, lw=0,
                        label=f"flow {curve.attrs.get('level', 0.95):.0%} interval")
    if linear is not None:
        ax.plot(linear["a"], linear["estimate"], "--", color="C1", label="linear SEM")
    if truth is not None:
        ax.plot(truth["a"], truth["truth"], ":", color="black", lw=1.6, label="truth")
    ax.set_xlabel(f"{treatment} set to a")
    ax.set_ylabel(f"E[{outcome}({treatment} = a)]")
    ax.set_title(f"Dose-response of {treatment} on {outcome}")
    ax.legend()
    return _save(fig, path)


def plot_training(history: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Training and validation negative log-likelihood per epoch (``fit.history``)."""
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    ax.plot(history["epoch"], history["train_nll"], label="training")
    ax.plot(history["epoch"], history["val_nll"], label="validation")
    best = int(np.argmin(history["val_nll"].to_numpy()))
    ax.axvline(history["epoch"].iloc[best], color="grey", ls=":", lw=1, label="best (weights kept)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("negative log-likelihood per row (nats)")
    ax.set_title("Training curves of the flow")
    ax.legend()
    return _save(fig, path)


def write_report(folder: str | Path, tables: Mapping[str, pd.DataFrame] | None = None,
                 figures: Mapping[str, Figure] | None = None,
                 texts: Mapping[str, str] | None = None) -> list[Path]:
    """Write tables as ``<name>.csv``, figures as ``<name>.png`` and texts as ``<name>``.

    The folder is created if needed.

    Returns:
        The paths written, in the order written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (tables or {}).items():
        p = folder / f"{name}.csv"
        table.to_csv(p, index=False)
        written.append(p)
    for name, fig in (figures or {}).items():
        p = folder / f"{name}.png"
        fig.savefig(p, dpi=120, bbox_inches="tight")
        written.append(p)
    for name, text in (texts or {}).items():
        p = folder / name
        p.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        written.append(p)
    return written
