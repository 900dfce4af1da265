"""Which listed models can chat, from what their backend reports."""

from __future__ import annotations

from tui.backends.base import ModelInfo
from tui.core.sanitize import sanitize


def can_chat(model: ModelInfo) -> bool:
    """Whether ``model`` can answer a chat.

    The backend's own capabilities decide when it lists them (an Ollama model without
    ``completion``, such as ``nomic-embed-text`` with only ``embedding``, cannot); a backend that
    does not say (an OpenAI-compatible server, an older Ollama) gets the benefit of the doubt,
    except for a name or family that says embedding.
    """
    if model.capabilities:
        return "completion" in model.capabilities
    return "embed" not in model.name.lower() and "bert" not in model.family.lower()


def not_chat_reason(model: ModelInfo) -> str:
    """One line saying why ``model`` cannot chat ("" when it can)."""
    if can_chat(model):
        return ""
    name = sanitize(model.name)
    if model.capabilities:
        said = sanitize(", ".join(model.capabilities))
        return f"{name} cannot chat: {model.backend} reports {said}, not completion."
    return f"{name} looks like an embedding model, which cannot chat."
