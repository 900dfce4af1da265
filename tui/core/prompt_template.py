"""Render a conversation with a Foundry Local / ONNX Runtime GenAI ``PromptTemplate``.

The template has four keys, each a string with a ``{Content}`` placeholder (missing keys mean
``"{Content}"``, as in onnxruntime-genai's ``model.prompt_templates``):

- ``system``: one system message;
- ``user`` / ``assistant``: earlier turns of the conversation;
- ``prompt``: the final user turn, including whatever opens the assistant's reply.

So a conversation ``[system, user, assistant, user]`` renders as
``system(s) + user(u1) + assistant(a1) + prompt(u2)``. A conversation that does not end with a user
turn renders every turn with its own key (nothing opens a reply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PLACEHOLDER = "{Content}"
KEYS = ("system", "user", "assistant", "prompt")


def fill(template: str | None, content: str) -> str:
    """Put ``content`` where ``{Content}`` stands (every occurrence; no other brace is special)."""
    return (template if template is not None else PLACEHOLDER).replace(PLACEHOLDER, content)


def render_prompt(
    prompt_template: Mapping[str, str | None] | None, messages: Sequence[tuple[str, str]]
) -> str:
    """Return the exact prompt string the model sees for ``messages`` (role, content) pairs."""
    template = prompt_template or {}
    last_user = max((i for i, (role, _) in enumerate(messages) if role == "user"), default=-1)
    ends_with_user = last_user == len(messages) - 1
    parts: list[str] = []
    for i, (role, content) in enumerate(messages):
        if role == "user" and i == last_user and ends_with_user:
            parts.append(fill(template.get("prompt"), content))
        elif role in ("system", "user", "assistant"):
            parts.append(fill(template.get(role), content))
        else:  # tool or unknown roles: shown as user text, the closest the format can say
            parts.append(fill(template.get("user"), content))
    return "".join(parts)
