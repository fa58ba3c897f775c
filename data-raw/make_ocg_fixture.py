"""Write a synthetic OCG 1962 fixed-width file for the tests of read_ocg1962().

The real OCG 1962 microdata may not be redistributed, so the reader is tested
on this made-up file with the same layout (1-based columns): race 30 (0 =
white), Y 119-121, W 131-133, X 143-145, U 166-167, V 168-169. Every other
column holds random digits, so a reader that slices the wrong columns
reads wrong numbers.

The 58 records are built to give known counts:

* 40 white men with complete, in-range values: the first is V=3, X=45, U=5,
  W=38, Y=52; others hit the edges (codes 0 and 8, scores 0 and 96) and one
  has a space-padded X ("  7");
* 8 not white (race 1 or 2), two of them also with V = 9;
* white men with: V = 9 (3 records), X = 99 (2), W = 99 and Y = 99 together (2),
  U blank (1), Y = 98, out of range (1), U = 09, out of range (1).

So the reader keeps 40 and drops 18: 8 not white, 10 white with gaps
(missing V 3, X 2, W 2, Y 2, U 1; out of range U 1, Y 1).

Line lengths vary from 169 (the minimum) to 200 characters.

    /work/venv/bin/python data-raw/make_ocg_fixture.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "python" / "fixtures" / "ocg1962_fixture.txt"
LAYOUT = {"race": (30, 30), "Y": (119, 121), "W": (131, 133), "X": (143, 145), "U": (166, 167), "V": (168, 169)}


def records(rng: np.random.Generator) -> list[dict[str, str]]:
    """The field strings of each record, in file order."""

    def complete() -> dict[str, str]:
        return {"race": "0", "V": f"{rng.integers(0, 9):02d}", "X": f"{rng.integers(0, 97):03d}",
                "U": f"{rng.integers(0, 9):02d}", "W": f"{rng.integers(0, 97):03d}",
                "Y": f"{rng.integers(0, 97):03d}"}

    def changed(**fields: str) -> dict[str, str]:
        rec = complete()
        rec.update(fields)
        return rec

    good = [{"race": "0", "V": "03", "X": "045", "U": "05", "W": "038", "Y": "052"},
            changed(V="00", U="00", X="000"), changed(V="08", U="08", W="096", Y="096"),
            changed(X="  7")]
    good += [complete() for _ in range(40 - len(good))]
    bad = [changed(race="1") for _ in range(4)] + [changed(race="2"), changed(race="1", V="09"),
                                                   changed(race="2", V="09"), changed(race="1")]
    bad += [changed(V="09") for _ in range(3)] + [changed(X="099") for _ in range(2)]
    bad += [changed(W="099", Y="099") for _ in range(2)]
    bad += [changed(U="  "), changed(Y="098"), changed(U="09")]
    rest = good[1:] + bad
    order = rng.permutation(len(rest))
    return [good[0]] + [rest[i] for i in order]


def render(rec: dict[str, str], length: int, rng: np.random.Generator) -> str:
    chars = list("".join(str(d) for d in rng.integers(0, 10, length)))
    for name, (first, last) in LAYOUT.items():
        value = rec[name]
        assert len(value) == last - first + 1, (name, value)
        chars[first - 1:last] = value
    return "".join(chars)


def build() -> str:
    rng = np.random.default_rng(6162)
    recs = records(rng)
    lengths = rng.integers(169, 201, len(recs))
    lengths[1] = 169
    return "".join(render(rec, int(n), rng) + "\n" for rec, n in zip(recs, lengths))


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(build(), encoding="ascii", newline="\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
