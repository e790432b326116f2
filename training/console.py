"""Console plumbing for the command-line scripts (train.py, render.py, scripts/*).

Log records go through ``tqdm.write`` when a progress bar may be on screen, so they do not tear it.
User errors (``ValueError`` / ``FileNotFoundError``) become one line on stderr and exit status 2.
Every progress bar comes from :func:`progress_bar`: a live tqdm bar on a terminal, and about
:data:`PROGRESS_LINES` plain lines per bar (one every 5 %) when its stream is not a terminal
(CI, ``> log 2>&1``, ``nohup``), instead of thousands of carriage-return updates.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import IO, Any, Callable, Optional, Sequence

USER_ERROR_EXIT = 2
PROGRESS_LINES = 20  # lines a bar writes to a stream that is not a terminal (one every 5 %)
UNKNOWN_TOTAL_INTERVAL_S = 30.0  # ... and at most one line per this many seconds without a total


class _LineStream:
    """Wraps a non-terminal stream for tqdm: each refresh becomes one whole line (no ``\\r``)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(total: Optional[int], desc: str, *, initial: int = 0, unit: str = "it",
                 disable: bool = False, file: Optional[IO[str]] = None,
                 interactive: Optional[bool] = None) -> Any:
    """A tqdm bar for the scripts (the one place that decides how bars look).

    ``file`` defaults to ``sys.stderr``; ``interactive`` (default: whether ``file`` is a terminal)
    selects a live bar (``dynamic_ncols``), else plain ASCII lines, one each time the count has
    advanced by 1/:data:`PROGRESS_LINES` of the remaining work (plus the first and the last), with
    the same fields (count, percent, rate, elapsed, remaining, postfix)."""
    from tqdm import tqdm

    stream = file if file is not None else sys.stderr
    if interactive is None:
        interactive = _is_terminal(stream)
    if interactive:
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable,
                    file=stream, dynamic_ncols=True)
    remaining = (total - initial) if total else 0
    every = max(1, math.ceil(remaining / PROGRESS_LINES)) if remaining > 0 else 1
    interval = 0.0 if remaining > 0 else UNKNOWN_TOTAL_INTERVAL_S  # no total: a line per interval
    # miniters fixed and maxinterval infinite: tqdm's monitor thread never lowers miniters
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=disable,
                file=_LineStream(stream), ascii=True, miniters=every, mininterval=interval,
                maxinterval=float("inf"))


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(verbose: bool = False) -> None:
    """INFO (DEBUG with ``verbose``) records of every package to stderr, one line each."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _TqdmHandler):
            root.removeHandler(handler)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("PIL", "matplotlib", "fsspec", "urllib3", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None, prog: str) -> int:
    """``main(argv)`` with user errors turned into ``"<prog>: error: <message>"`` on stderr and exit 2."""
    try:
        return main(argv)
    except (ValueError, FileNotFoundError) as exc:
        logging.getLogger(prog).debug("user error", exc_info=True)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"{prog}: error: {message}\n")
        return USER_ERROR_EXIT


class ProgressBar:
    """tqdm bar with loss / PSNR (exponential moving averages, as 3DGS) and the Gaussian count."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str = "training"):
        self.bar = None
        self.ema_loss: Optional[float] = None
        self.ema_psnr: Optional[float] = None
        if enabled and total > initial:
            self.bar = progress_bar(total, desc, initial=initial)

    def __call__(self, stats: Any) -> None:
        if self.bar is None:
            return
        self.ema_loss = stats.loss if self.ema_loss is None else 0.4 * stats.loss + 0.6 * self.ema_loss
        self.ema_psnr = stats.psnr if self.ema_psnr is None else 0.4 * stats.psnr + 0.6 * self.ema_psnr
        if stats.iteration % 10 == 0:
            self.bar.set_postfix(loss=f"{self.ema_loss:.4f}", psnr=f"{self.ema_psnr:.2f}", n=stats.num_gaussians, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
