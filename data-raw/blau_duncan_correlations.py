"""Write the published Blau–Duncan correlation matrix to python/medflow/data/.

Source: Blau, P. M. and Duncan, O. D. (1967). The American Occupational
Structure. New York: Wiley, p. 169 (OCG 1962, N = 20,700 men). The lower
triangle below is typed from that table (also docs/design.md §1).

The CSV is the single source of these numbers: Python reads it in
``medflow.datasets.blau_duncan_correlations()`` and the R package builds its
``blau_duncan_cor`` from it. Lines starting with ``#`` carry the metadata as
``# key: value``; read the matrix with ``comment = "#"`` (R: ``read.csv(...,
comment.char = "#", row.names = 1)``).

    /work/venv/bin/python data-raw/blau_duncan_correlations.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

NAMES = ["V", "X", "U", "W", "Y"]
LABELS = {
    "V": "father's education",
    "X": "father's occupational status (SEI)",
    "U": "son's education",
    "W": "status of son's first job (SEI)",
    "Y": "son's occupational status in 1962 (SEI)",
}
#: Lower triangle, row by row: X-V; U-V, U-X; W-V, W-X, W-U; Y-V, Y-X, Y-U, Y-W.
LOWER = [
    [0.516],
    [0.453, 0.438],
    [0.332, 0.417, 0.538],
    [0.322, 0.405, 0.596, 0.541],
]
N = 20700
SOURCE = ("Blau, P. M. and Duncan, O. D. (1967). The American Occupational Structure. "
          "New York: Wiley, p. 169 (OCG 1962)")

OUT = Path(__file__).resolve().parents[1] / "python" / "medflow" / "data" / "blau_duncan_correlations.csv"


def matrix() -> pd.DataFrame:
    r = np.eye(len(NAMES))
    for i, row in enumerate(LOWER, start=1):
        for j, value in enumerate(row):
            r[i, j] = r[j, i] = value
    return pd.DataFrame(r, index=NAMES, columns=NAMES)


def main() -> None:
    r = matrix()
    if np.linalg.eigvalsh(r.to_numpy()).min() <= 0:
        raise SystemExit("The typed matrix is not positive definite: check the numbers.")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = [f"# source: {SOURCE}", f"# n: {N}"]
    header += [f"# {name}: {label}" for name, label in LABELS.items()]
    body = r.to_csv(float_format="%.3f", lineterminator="\n")
    OUT.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
