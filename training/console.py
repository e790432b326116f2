"""Console plumbing for the command-line scripts (train.py, render.py, scripts/*).

Log records go through ``tqdm.write`` when a progress bar may be on screen, so they do not tear it.
User errors (``ValueError`` / ``FileNotFoundError``) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable, Sequence

USER_ERROR_EXIT = 2


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
