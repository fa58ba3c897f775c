"""Progress bars only when asked for (verbose) and only on a terminal."""

import io
import sys

import numpy as np
import pandas as pd
import pytest

import medflow as mf
from medflow.progress import progress_bar, show_progress


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal (as a console, or reticulate's stream in RStudio)."""

    def isatty(self):
        return True


class ClosedStream(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file.")


def small_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    m = 0.5 * x + rng.normal(size=n)
    y = 0.3 * m + 0.2 * x + rng.normal(size=n)
    return pd.DataFrame({"X": x, "M": m, "Y": y})


def test_show_progress_needs_verbose_and_a_terminal():
    assert show_progress(True, stream=FakeTerminal()) is True
    assert show_progress(False, stream=FakeTerminal()) is False
    assert show_progress(True, stream=io.StringIO()) is False          # a file or a pipe
    assert show_progress(True, stream=ClosedStream()) is False
    assert show_progress(True, stream=object()) is False                # no isatty at all


def test_progress_bar_is_none_off_a_terminal_and_counts_on_one():
    assert progress_bar(5, "x", verbose=True, stream=io.StringIO()) is None
    assert progress_bar(5, "x", verbose=False, stream=FakeTerminal()) is None
    term = FakeTerminal()
    bar = progress_bar(4, "bootstrap", verbose=True, unit="replicate", stream=term)
    assert bar is not None and bar.total == 4
    bar.update(4)
    bar.close()
    assert "bootstrap" in term.getvalue() and "replicate" in term.getvalue()


def test_a_verbose_fit_writes_no_bar_into_a_file(monkeypatch):
    log = io.StringIO()                     # stderr redirected to a file: no isatty
    monkeypatch.setattr(sys, "stderr", log)
    mf.CausalFlow("M ~ X; Y ~ X + M", small_data()).fit(seed=0, epochs=3, verbose=True)
    assert log.getvalue() == ""


@pytest.mark.parametrize("verbose", [True, False])
def test_a_fit_on_a_terminal_shows_a_bar_only_when_verbose(monkeypatch, verbose):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    mf.CausalFlow("M ~ X; Y ~ X + M", small_data()).fit(seed=0, epochs=3, verbose=verbose)
    assert ("\r" in term.getvalue()) is verbose
