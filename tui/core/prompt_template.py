"""Render a conversation with a Foundry Local / ONNX Runtime GenAI ``PromptTemplate``.

The template has four keys, each a string with a ``{Content}`` placeholder (a missing or null key
means ``"{Content}"``, as in onnxruntime-genai's ``model.prompt_templates``):

- ``system``: one system message;
- ``user`` / ``assistant``: earlier turns of the conversation;
- ``prompt``: the last user turn, including whatever opens the assistant's reply.

So ``[system, user, assistant, user]`` renders as ``system(s) + user(u1) + assistant(a1) +
prompt(u2)``. Foundry Local's catalog templates put the reply's header in ``assistant``
(``"<|assistant|>{Content}<|end|>"``); others, like the llama-3.2 example in Foundry's docs, write
``assistant`` as ``"{Content}<|eot_id|>"`` and leave the header to ``prompt``. So when
``assistant`` has no text before ``{Content}``, a user turn answered by an assistant turn is
rendered with ``prompt`` too; either way every earlier reply gets exactly one header. Roles other
than system/user/assistant (tool results) are rendered as user turns.

This is the one implementation: the ONNX backend, the editor's preview and ``slmdeck check`` use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PLACEHOLDER = "{Content}"
KEYS = ("system", "user", "assistant", "prompt")


def fill(template: Any, content: str) -> str:
    """Put ``content`` where ``{Content}`` stands (every occurrence; no other brace is special)."""
    text = template if isinstance(template, str) else PLACEHOLDER
    return text.replace(PLACEHOLDER, content)


def assistant_opens_itself(prompt_template: Mapping[str, Any] | None) -> bool:
    """Whether ``assistant`` has text of its own before ``{Content}`` (a reply's header); the
    template's text is split at the placeholder itself, so any character may stand in it."""
    assistant = (prompt_template or {}).get("assistant")
    text = assistant if isinstance(assistant, str) else PLACEHOLDER
    return bool(text.split(PLACEHOLDER, 1)[0].strip())


def render_prompt(
    prompt_template: Mapping[str, Any] | None, messages: Sequence[tuple[str, str]]
) -> str:
    """Return the exact prompt string the model sees for ``messages`` (role, content) pairs."""
    template = prompt_template or {}
    opens_itself = assistant_opens_itself(template)
    roles = [role if role in ("system", "assistant") else "user" for role, _ in messages]
    parts: list[str] = []
    for i, (role, (_, content)) in enumerate(zip(roles, messages, strict=True)):
        key = role
        if role == "user":
            nxt = roles[i + 1] if i + 1 < len(roles) else None
            if nxt is None or (nxt == "assistant" and not opens_itself):
                key = "prompt"
        parts.append(fill(template.get(key), content))
    return "".join(parts)
