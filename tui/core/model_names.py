"""What a model name may be: one rule for every dialog that asks for one."""

from __future__ import annotations

import re

_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


def model_name_problem(name: str) -> str | None:
    """A sentence saying why ``name`` cannot be a model name, or None.

    An empty name is not judged here: the dialog asking says the same for every empty answer
    (see ``tui.widgets.prompt.empty_problem``).
    """
    if name and not _NAME_OK.match(name):
        return (
            "A model name starts with a letter or digit and holds only letters, digits "
            "and . _ - : /"
        )
    return None
