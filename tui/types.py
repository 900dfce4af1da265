"""The values and errors screens and widgets use, from the backends and the stores.

Screens and widgets import these from here, never from :mod:`tui.backends` or :mod:`tui.store`
(an import-linter contract checks it): they reach backends and stores only through the
controller, and this module is the one place that names the types they share.
"""

from __future__ import annotations

from tui.backends.base import (
    BackendError,
    BackendUnavailable,
    Capability,
    ChatMessage,
    ChatOptions,
    ChatStats,
    CreateRequest,
    InvalidInput,
    ModelDetails,
    ModelInfo,
    ModelNotFound,
    Progress,
    RunningModel,
    Unsupported,
)
from tui.persist import BenchResults, ChatHistory, DraftBook
from tui.store.chats import Session, StoredMessage
from tui.store.db import StoreError
from tui.store.drafts import Draft
from tui.store.files import DEFAULT_FS, FileReadError, FileSaveError, FileSystem, SaveResult

__all__ = [
    "DEFAULT_FS",
    "BackendError",
    "BackendUnavailable",
    "BenchResults",
    "Capability",
    "ChatHistory",
    "ChatMessage",
    "ChatOptions",
    "ChatStats",
    "CreateRequest",
    "Draft",
    "DraftBook",
    "FileReadError",
    "FileSaveError",
    "FileSystem",
    "InvalidInput",
    "ModelDetails",
    "ModelInfo",
    "ModelNotFound",
    "Progress",
    "RunningModel",
    "SaveResult",
    "Session",
    "StoreError",
    "StoredMessage",
    "Unsupported",
]
