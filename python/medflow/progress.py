"""When to show a progress bar: only when asked for and only where a person watches.

A bar redraws itself with carriage returns. In a terminal that is one line that
moves; in a log file (``medflow ... > log``, ``Rscript script.R > log``, a batch
job) every redraw stays, so a 7-second fit leaves dozens of lines behind. Every
bar of medflow is therefore made by :func:`progress_bar`, which shows it only
when ``verbose`` is true and :func:`show_progress` finds a terminal.

From R, reticulate gives Python a standard error whose ``isatty()`` says whether
R is interactive or writes to a terminal, so the same rule holds there: a bar in
the RStudio console or an R terminal, none in an ``Rscript`` log.

Example:
    >>> import io
    >>> show_progress(True, stream=io.StringIO())     # a file or a pipe: no bar
    False
    >>> show_progress(False)                          # not asked for: no bar
    False
    >>> progress_bar(10, "fitting flow", verbose=True, stream=io.StringIO()) is None
    True
"""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["show_progress", "progress_bar"]


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (whose output streams are not terminals but show bars)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython without a running shell
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def show_progress(verbose: bool, stream: IO[str] | None = None) -> bool:
    """Whether to show a progress bar.

    Args:
        verbose: whether the caller asked for progress (``verbose=`` of the public functions).
        stream: where the bar would be written; default ``sys.stderr`` (where tqdm writes).

    Returns:
        ``True`` only when ``verbose`` is true and ``stream`` is a terminal (or the code runs
        in a Jupyter notebook); ``False`` for files, pipes, closed or missing streams.

    Example:
        >>> import io
        >>> show_progress(True, stream=io.StringIO())
        False
    """
    if not verbose:
        return False
    if stream is None:
        stream = sys.stderr
        if _in_notebook():
            return True
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False


def progress_bar(total: int, desc: str, verbose: bool, unit: str = "it",
                 stream: IO[str] | None = None) -> Any:
    """A tqdm bar when :func:`show_progress` allows one, else ``None``.

    No tqdm object is made at all when there is no bar: tqdm creates a multiprocessing
    lock on first use, which fails inside joblib/loky worker processes.

    Args:
        total: number of steps.
        desc: label shown before the bar.
        verbose: whether the caller asked for progress.
        unit: what one step counts (``"epoch"``, ``"replicate"``).
        stream: where to write; default ``sys.stderr``.

    Returns:
        A ``tqdm`` object (call ``update()`` and ``close()``) or ``None``.

    Example:
        >>> bar = progress_bar(3, "bootstrap", verbose=False)
        >>> bar is None
        True
    """
    if not show_progress(verbose, stream):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=stream)
