"""slmdeck's log file, ``slmdeck.log`` in the data dir: warnings, errors and their tracebacks.

A full-screen app has no terminal to print a traceback to, so whatever ``tui.*`` logs at warning
level or above goes to this file. The handler is installed on first use and opens the file only
when there is something to write; it follows the data dir if that changes (each test has its own).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

LOG_NAME = "slmdeck.log"
LOGGER = "tui"


class _DataDirHandler(logging.FileHandler):
    """A file handler that creates the data dir when it first writes."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


_lock = threading.Lock()
_handler: _DataDirHandler | None = None


def log_path() -> Path:
    """Where the log file is (or will be)."""
    from tui.config import data_dir

    return data_dir() / LOG_NAME


def file_log() -> Path:
    """Send ``tui.*`` warnings and errors to the log file from now on; returns its path.

    Cheap to call again: it sets the handler up once per data dir, and opens nothing until a
    record is written.
    """
    global _handler
    path = log_path()
    with _lock:
        if _handler is not None and Path(_handler.baseFilename) == path.absolute():
            return path
        logger = logging.getLogger(LOGGER)
        if _handler is not None:
            logger.removeHandler(_handler)
            _handler.close()
        handler = _DataDirHandler(path, encoding="utf-8", delay=True)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        _handler = handler
    return path


def close_file_log() -> None:
    """Stop writing to the log file (the app calls this as it ends)."""
    global _handler
    with _lock:
        handler, _handler = _handler, None
    if handler is not None:
        logging.getLogger(LOGGER).removeHandler(handler)
        handler.close()


def log_error(what: str, error: BaseException) -> Path:
    """Write ``what`` failed, with ``error``'s traceback, to the log file; returns its path.

    Never raises: a log file that cannot be written must not turn one failure into two.
    """
    path = file_log()
    try:
        logging.getLogger(f"{LOGGER}.errors").error("%s failed", what, exc_info=error)
    except Exception:  # logging reports its own failures via handleError; this is belt and braces
        pass
    return path
