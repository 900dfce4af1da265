"""The chat, headless: records and the store interface, options, the conversation sent, the turn,
Markdown cutting, export, and :class:`~tui.core.chat.session.ChatSession` that ties them together.

Nothing here imports Textual or :mod:`tui.store` (import-linter checks it).
"""

from tui.core.chat.export import export_documents, export_json, export_markdown
from tui.core.chat.history import history, session_title
from tui.core.chat.markdown import (
    CodeBlock,
    block_boundary,
    code_blocks,
    find_code_blocks,
    split_segments,
    tail_from_block,
)
from tui.core.chat.models import can_chat, not_chat_reason
from tui.core.chat.options import OPTION_NAMES, options_from_dict, parse_option
from tui.core.chat.records import (
    STATUSES,
    ChatRecords,
    ReplySink,
    Session,
    StoredMessage,
    StoreError,
)
from tui.core.chat.session import MESSAGE_PAGE, ChatSession, ExportError, history_problem
from tui.core.chat.stats import TurnStats, format_stats, plural
from tui.core.chat.turn import SAVE_INTERVAL, ChatTurn, TurnResult

__all__ = [
    "MESSAGE_PAGE",
    "OPTION_NAMES",
    "SAVE_INTERVAL",
    "STATUSES",
    "ChatRecords",
    "ChatSession",
    "ChatTurn",
    "CodeBlock",
    "ExportError",
    "ReplySink",
    "Session",
    "StoreError",
    "StoredMessage",
    "TurnResult",
    "TurnStats",
    "block_boundary",
    "can_chat",
    "code_blocks",
    "export_documents",
    "export_json",
    "export_markdown",
    "find_code_blocks",
    "format_stats",
    "history",
    "history_problem",
    "not_chat_reason",
    "options_from_dict",
    "parse_option",
    "plural",
    "session_title",
    "split_segments",
    "tail_from_block",
]
