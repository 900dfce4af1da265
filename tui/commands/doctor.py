"""What ``slmdeck doctor`` says about the configuration file: read, invalid (and why) or absent.

``tui.cli.cmd_doctor`` prints :func:`config_report`'s lines; the problems are those
:func:`tui.config.load_config` met (``Config.problems``): a file that is not valid TOML or cannot
be read, and every setting of the wrong type or out of range, such as
``[monitor] interval = "fast"``.
"""

from __future__ import annotations

from pathlib import Path

from tui.config import Config
from tui.core.sanitize import sanitize
from tui.core.text import plural


def config_state(path: Path, config: Config) -> str:
    """``read``, ``read, 1 problem: …``, ``invalid, defaults used`` or ``not present, …``."""
    problems = len(config.problems)
    if config.source is not None:
        if not problems:
            return "read"
        return f"read, {plural(problems, 'problem')}: those settings use their defaults"
    if problems or _exists(path):
        # The file is there but was not used: not TOML, not UTF-8, unreadable, not a file.
        return "invalid, defaults used"
    return "not present, defaults used"


def config_report(path: Path, config: Config) -> list[str]:
    """The doctor's lines about the config file ``path`` as it was loaded into ``config``."""
    lines = [f"config: {path} ({config_state(path, config)})"]
    lines += [f"  problem: {sanitize(problem)}" for problem in config.problems]
    return lines


def _exists(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return True
