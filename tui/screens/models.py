"""The Models screen: every installed model across backends, with actions by key.

Filter as you type (``/``), sort by any column (``s``, or click a header), details of the highlighted
model from the backend's ``show``. Actions appear in the footer only when the model's backend can do
them (its capabilities): pull, delete, copy, rename, unload, edit, variants, chat; importing a local
GGUF file into Ollama and registering a local ONNX GenAI folder work with no network at all.

Long operations (pull, import, folder copy) run in the controller, so they go on while another screen
is shown; Escape cancels the latest one.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Header, Input, Static
from textual.worker import Worker

from tui.controller import (
    BackendStatus,
    FolderAdded,
    ModelsChanged,
    Operation,
    OperationUpdated,
)
from tui.core.chat.models import can_chat, not_chat_reason
from tui.core.model_names import model_name_problem
from tui.core.sanitize import sanitize
from tui.messages import ControllerEvent
from tui.screens.base import DeckScreen
from tui.types import BackendError, Capability, ModelDetails
from tui.widgets.confirm import ChoiceDialog, ConfirmDialog
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.key_bar import KeyBar
from tui.widgets.model_details import ModelDetailsPane
from tui.widgets.model_table import COLUMNS, FILTER_FIELDS, ModelRow, ModelTable, build_rows
from tui.widgets.progress import OperationsPanel
from tui.widgets.prompt import PathCompletion, PromptDialog

LOADED_REFRESH = 15.0
"""Seconds between re-reads of what the backends hold in memory while the screen is shown."""


def name_from_file(path: Path) -> str:
    """A model name for an imported GGUF file: its stem, lower-case, with safe characters."""
    stem = re.sub(r"[^a-z0-9_.-]+", "-", path.stem.lower()).strip("-.") or "imported"
    return stem


def gguf_path_problem(text: str) -> str | None:
    """Why ``text`` is not a GGUF file that can be imported, or None."""
    path = Path(text).expanduser()
    if not path.exists():
        return f"{path} does not exist."
    if not path.is_file():
        return f"{path} is a folder; give the .gguf file inside it."
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})."
    if magic != b"GGUF":
        return f"{path} is not a GGUF file (it does not start with the GGUF signature)."
    return None


def onnx_folder_problem(text: str) -> str | None:
    """Why ``text`` is not an ONNX Runtime GenAI model folder, or None."""
    from tui.core.gguf_info import ModelFolderError, read_genai_folder

    path = Path(text).expanduser()
    if not path.exists():
        return f"{path} does not exist."
    if not path.is_dir():
        return f"{path} is a file; give the folder that holds genai_config.json."
    try:
        read_genai_folder(path)
    except ModelFolderError as exc:
        return f"{exc}."
    return None


class ModelsScreen(DeckScreen):
    """All models across backends; actions by key, shown when the backend allows them."""

    CSS_PATH = "models.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="models.filter", tooltip="Filter as you type"),
        Binding("s", "sort", "Sort", id="models.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", show=False, id="models.reverse"),
        Binding(
            "enter", "chat", "Chat", id="models.chat", tooltip="Chat with this model", priority=True
        ),
        Binding("p", "pull", "Pull", id="models.pull", tooltip="Download a model"),
        Binding("d", "delete", "Delete", id="models.delete", tooltip="Delete this model"),
        Binding("c", "copy", "Copy", id="models.copy", tooltip="Copy under a new name"),
        Binding("m", "rename", "Rename", show=False, id="models.rename"),
        Binding("u", "unload", "Unload", id="models.unload", tooltip="Free its memory now"),
        Binding("e", "edit", "Edit", id="models.edit", tooltip="Open in the editor"),
        Binding("v", "variants", "Variants", id="models.variants", tooltip="Quantization picker"),
        Binding("i", "import_gguf", "Import", id="models.import", tooltip="Import a .gguf file"),
        Binding("a", "add_folder", "Add folder", id="models.add_folder"),
        Binding("escape", "cancel", "Cancel", id="models.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._details: dict[str, ModelDetails] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="models-body"):
            yield Static("", id="models-title", markup=False)
            yield Input(placeholder=f"filter: words in {FILTER_FIELDS}", id="models-filter")
            yield ModelTable(id="models-table")
            yield ModelDetailsPane(id="models-details")
            yield OperationsPanel(id="models-ops")
        yield GaugeStrip()
        yield KeyBar()

    @property
    def table(self) -> ModelTable:
        return self.query_one(ModelTable)

    @property
    def panel(self) -> OperationsPanel:
        return self.query_one(OperationsPanel)

    def on_mount(self) -> None:
        self.query_one("#models-filter", Input).display = False
        self.reload()
        for op in self.deck.controller.operations.values():
            self.panel.track(op)
        self.table.focus()
        self._read_loaded()
        self.set_interval(LOADED_REFRESH, self._read_loaded)

    # ------------------------------------------------------------------ data

    def reload(self) -> None:
        """Rebuild the rows from the controller's models and loaded models."""
        controller = self.deck.controller
        self.table.set_rows(build_rows(controller.all_models(), controller.loaded_models))
        self._update_title()
        self._show_details()
        self.refresh_bindings()

    def _update_title(self) -> None:
        table = self.table
        total, shown = len(table.rows_all), len(table.shown)
        controller = self.deck.controller
        text = Text("Models", style="bold")
        text.append(f"  {shown} of {total}" if table.query_text else f"  {total}", style="dim")
        title = dict(COLUMNS)[table.sort_column]
        text.append(
            f" · sorted by {title.lower()}{' ↓' if table.sort_reverse else ''}", style="dim"
        )
        if table.query_text:
            text.append(f" · filter: {table.query_text}", style="dim")
        down = [s.id for s in controller.states.values() if s.status is BackendStatus.DOWN]
        probing = [s.id for s in controller.states.values() if s.status is BackendStatus.PROBING]
        if probing:
            text.append(f" · probing {', '.join(probing)}…", style="yellow")
        if down:
            text.append(f" · down: {', '.join(down)} (see Backends, key 1)", style="red")
        unread = sum(len(s.problems) for s in controller.states.values())
        if unread:
            what = "entry" if unread == 1 else "entries"
            text.append(f" · {unread} {what} not read (see Backends, key 1)", style="yellow")
        self.query_one("#models-title", Static).update(text)

    @work(group="models-ps", exclusive=True, exit_on_error=False)
    async def _read_loaded(self) -> None:
        try:
            await self.deck.controller.refresh_loaded_models()
        except BackendError:
            return
        if self.is_attached:
            self.reload()

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, ModelsChanged):
            self._details = {
                k: v for k, v in self._details.items() if not k.startswith(f"{event.backend_id}\t")
            }
            self.reload()
            self._read_loaded()
        elif isinstance(event, OperationUpdated):
            op = event.operation
            before = self.panel.ops.get(op.id)
            self.panel.track(op)
            if before is None or before.state is not op.state:
                # Keys change when an operation starts or ends, never per progress update
                # (each refresh recomposes the footer). The outcome's toast is the app's and
                # its audit entry the controller's.
                self.refresh_bindings()
        else:
            self._update_title()
            self.refresh_bindings()

    # ------------------------------------------------------------------ details

    @on(ModelTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_details()
        self.refresh_bindings()

    def _show_details(self) -> None:
        row = self.table.current
        pane = self.query_one(ModelDetailsPane)
        if row is None:
            if self.table.rows_all:
                pane.show_text("No model matches the filter.")
            else:
                pane.show_text(self._empty_reason())
            return
        cached = self._details.get(row.key)
        if cached is not None:
            pane.show_details(cached, row.loaded)
            return
        pane.show_text(Text(f"{sanitize(row.info.name)}  {row.info.backend}\nReading details…"))
        self._fetch_details(row)

    def _empty_reason(self) -> str:
        controller = self.deck.controller
        if any(s.status is BackendStatus.PROBING for s in controller.states.values()):
            return "Looking for backends…"
        lines = ["No models installed."]
        for s in controller.states.values():
            if s.status is BackendStatus.DOWN:
                lines.append(f"{s.id}: {sanitize(s.detail)}")
        lines.append("Pull one with p, import a .gguf file with i, or add an ONNX folder with a.")
        return "\n".join(lines)

    @work(group="models-details", exclusive=True, exit_on_error=False)
    async def _fetch_details(self, row: ModelRow) -> None:
        # A short pause coalesces a fast scroll through the table into one request.
        await asyncio.sleep(0.08)
        controller = self.deck.controller
        pane = self.query_one(ModelDetailsPane)
        if not controller.supports(row.info.backend, Capability.SHOW):
            pane.show_details(ModelDetails(info=row.info), row.loaded)
            return
        try:
            details = await controller.show(row.info.backend, row.info.name)
        except BackendError as exc:
            pane.show_text(f"{sanitize(row.info.name)}: {exc}")
            return
        self._details[row.key] = details
        current = self.table.current
        if current is not None and current.key == row.key:
            pane.show_details(details, current.loaded)

    def worker_failed(self, worker: Worker[object]) -> None:
        if worker.name == "_fetch_details" and self.is_attached:
            # Not "Reading details…" forever: the pane says what happened, and moving to
            # another row (or back) asks again.
            row = self.table.current
            name = sanitize(row.info.name) if row is not None else "This model"
            self.query_one(ModelDetailsPane).show_text(
                f"{name}: the details could not be read ({type(worker.error).__name__}: "
                f"{sanitize(str(worker.error))})."
            )

    # ------------------------------------------------------------------ filter and sort

    def action_filter(self) -> None:
        box = self.query_one("#models-filter", Input)
        box.display = True
        # At once, not on the next idle: keys typed right after / (a paste, a fast typist) must
        # land in the box, not reach the app's bindings (q quits).
        self.set_focus(box)

    @on(Input.Changed, "#models-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._update_title()
        self._show_details()
        self.refresh_bindings()

    @on(Input.Submitted, "#models-filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def _close_filter(self) -> None:
        box = self.query_one("#models-filter", Input)
        if box.value:
            box.value = ""
        box.display = False
        self.table.focus()

    def action_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        nxt = keys[(keys.index(self.table.sort_column) + 1) % len(keys)]
        self.table.sort_by(nxt, reverse=False)
        self._update_title()

    def action_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)
        self._update_title()

    @on(ModelTable.Sorted)
    def _sorted(self) -> None:
        self._update_title()

    # ------------------------------------------------------------------ which actions show

    def _caps(self, row: ModelRow | None) -> frozenset[Capability]:
        if row is None:
            return frozenset()
        return self.deck.controller.capabilities(row.info.backend)

    def _up_backends(self, capability: Capability) -> list[str]:
        return self.deck.controller.backend_ids(capability, up=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        row = self.table.current if self.query(ModelTable) else None
        caps = self._caps(row)
        if action == "chat":
            # Enter belongs to the filter box and to dialogs while they have the focus.
            return (
                row is not None
                and Capability.CHAT in caps
                and can_chat(row.info)
                and self.focused is self.table
            )
        if action == "delete":
            return Capability.DELETE in caps
        if action == "copy":
            return Capability.COPY in caps
        if action == "rename":
            return row is not None and self.deck.controller.can_rename(row.info.backend)
        if action == "unload":
            return Capability.UNLOAD in caps and row is not None and row.loaded is not None
        if action in ("edit", "variants"):
            return row is not None
        if action == "pull":
            return bool(self._up_backends(Capability.PULL))
        if action == "import_gguf":
            return bool(self._up_backends(Capability.IMPORT))
        if action == "add_folder":
            return bool(self.deck.controller.backend_ids(kind="onnx"))
        if action == "cancel":
            box = self.query_one("#models-filter", Input)
            return bool(self.panel.running()) or bool(box.display)
        return True

    # ------------------------------------------------------------------ actions

    def action_cancel(self) -> None:
        box = self.query_one("#models-filter", Input)
        if box.display and (box.has_focus or not self.panel.running()):
            self._close_filter()
            return
        running = self.panel.running()
        if running:
            op = running[-1]
            self.deck.controller.cancel_operation(op.id)

    def action_chat(self) -> None:
        row = self.table.current
        if row is None or Capability.CHAT not in self._caps(row):
            return
        if not can_chat(row.info):
            self.notify(not_chat_reason(row.info), title="Models", markup=False)
            return
        self._open("chat", row)

    @on(ModelTable.RowSelected)
    def _selected(self) -> None:
        self.action_chat()

    def on_resize(self) -> None:
        self.table.fit_columns(self.app.size.width)
        self.query_one(ModelDetailsPane).styles.height = 9 if self.app.size.height >= 28 else 7

    def action_edit(self) -> None:
        if (row := self.table.current) is not None:
            self._open("editor", row)

    def action_variants(self) -> None:
        if (row := self.table.current) is not None:
            self._open("variants", row)

    def _open(self, screen: str, row: ModelRow) -> None:
        if not self.deck.open_screen(screen, model=row.info.name, backend=row.info.backend):
            self.notify(
                f"The {screen} screen is not available in this build.",
                title="Models",
                severity="warning",
                markup=False,
            )

    def action_pull(self) -> None:
        targets = self._up_backends(Capability.PULL)
        if not targets:
            return
        row = self.table.current
        backend_id = (
            row.info.backend if row is not None and row.info.backend in targets else targets[0]
        )
        value = row.info.name if row is not None and row.info.backend == backend_id else ""

        def done(name: str | None) -> None:
            if name:
                self.start_pull(backend_id, name)

        self.app.push_screen(
            PromptDialog(
                f"Pull a model into {backend_id}",
                value=value,
                help="A name such as qwen2.5:0.5b; a pull that stopped resumes where it was.",
                validate=model_name_problem,
                what="a model name",
            ),
            done,
        )

    def start_pull(self, backend_id: str, name: str) -> Operation:
        """Start pulling ``name`` into ``backend_id`` as a controller operation."""
        return self.deck.controller.pull(backend_id, name)

    def action_delete(self) -> None:
        row = self.table.current
        if row is None or Capability.DELETE not in self._caps(row):
            return
        info = row.info

        def done(yes: bool | None) -> None:
            if yes:
                self._delete(info.backend, info.name)

        self.app.push_screen(
            ConfirmDialog(
                "Delete model",
                f"Delete {sanitize(info.name)} from {info.backend}? Its files are removed "
                "(layers shared with other models are kept).",
                confirm_label="Delete",
            ),
            done,
        )

    @work(group="models-change", exit_on_error=False)
    async def _delete(self, backend_id: str, name: str) -> None:
        try:
            await self.deck.controller.delete(backend_id, name)
        except BackendError as exc:
            self.notify(
                f"Could not delete {name}: {exc}", title="Models", severity="error", markup=False
            )
            return
        self.notify(f"Deleted {name}.", title="Models", timeout=4, markup=False)

    def action_copy(self) -> None:
        self._ask_copy(rename=False)

    def action_rename(self) -> None:
        self._ask_copy(rename=True)

    def _ask_copy(self, *, rename: bool) -> None:
        row = self.table.current
        if row is None:
            return
        info = row.info

        def done(target: str | None) -> None:
            if target:
                self._copy(info.backend, info.name, target, rename)

        verb = "Rename" if rename else "Copy"
        help_text = (
            "The new name of this model; the old name is gone afterwards."
            if rename
            else "The name of the copy (it shares the model's files, so it takes no space)."
        )

        def problem(target: str) -> str | None:
            if target == info.name:
                return f"{sanitize(info.name)} is its name now; type a new one."
            return model_name_problem(target)

        self.app.push_screen(
            PromptDialog(
                f"{verb} {sanitize(info.name)}",
                value=info.name,
                help=help_text,
                validate=problem,
                what="a new name",
            ),
            done,
        )

    @work(group="models-change", exit_on_error=False)
    async def _copy(self, backend_id: str, source: str, target: str, rename: bool) -> None:
        controller = self.deck.controller
        try:
            if rename:
                await controller.rename(backend_id, source, target)
            else:
                await controller.copy(backend_id, source, target)
        except BackendError as exc:
            verb = "rename" if rename else "copy"
            self.notify(
                f"Could not {verb} {source}: {exc}", title="Models", severity="error", markup=False
            )
            return
        self.notify(
            f"{'Renamed' if rename else 'Copied'} {source} to {target}.", timeout=4, markup=False
        )

    @work(group="models-change", exit_on_error=False)
    async def action_unload(self) -> None:
        row = self.table.current
        if row is None or row.loaded is None:
            return
        try:
            await self.deck.controller.unload(row.info.backend, row.info.name)
        except BackendError as exc:
            self.notify(f"Could not unload {row.info.name}: {exc}", severity="error", markup=False)
            return
        self.notify(f"Unloaded {row.info.name}.", timeout=4, markup=False)
        self.reload()

    # ------------------------------------------------------------------ air-gapped import

    def action_import_gguf(self) -> None:
        targets = self._up_backends(Capability.IMPORT)
        if not targets:
            return
        backend_id = targets[0]

        def got_path(text: str | None) -> None:
            if not text:
                return
            path = Path(text).expanduser().absolute()

            def got_name(name: str | None) -> None:
                if name:
                    self.start_import(backend_id, path, name)

            self.app.push_screen(
                PromptDialog(
                    f"Name for {path.name} in {backend_id}",
                    value=name_from_file(path),
                    validate=model_name_problem,
                    what="a model name",
                ),
                got_name,
            )

        self.app.push_screen(
            PromptDialog(
                f"Import a GGUF file into {backend_id}",
                help="Path of a .gguf file on this machine; no network is used.",
                placeholder="/path/to/model.gguf",
                validate=gguf_path_problem,
                what="the path of a .gguf file",
                paths=PathCompletion(suffixes=(".gguf",)),
            ),
            got_path,
        )

    def start_import(self, backend_id: str, path: Path, name: str) -> Operation:
        """Import ``path`` as model ``name`` (hash, upload the blob, create) as an operation."""
        return self.deck.controller.import_gguf(backend_id, path, name)

    def action_add_folder(self) -> None:
        onnx = self.deck.controller.backend_ids(kind="onnx")
        if not onnx:
            return
        backend_id = onnx[0]

        def got_path(text: str | None) -> None:
            if not text:
                return
            path = Path(text).expanduser().absolute()

            def got_choice(choice: str | None) -> None:
                if choice == "r":
                    self._register(backend_id, path)
                elif choice == "c":
                    self.start_folder_copy(backend_id, path)

            self.app.push_screen(
                ChoiceDialog(
                    f"Add {path.name}",
                    "Use the folder where it is (it stays yours; moving it breaks the entry), "
                    "or copy it into slmdeck's data folder?",
                    [("r", "Use in place"), ("c", "Copy")],
                ),
                got_choice,
            )

        self.app.push_screen(
            PromptDialog(
                "Add an ONNX Runtime GenAI model folder",
                help="The folder that holds genai_config.json and the .onnx files.",
                placeholder="/path/to/model-folder",
                validate=onnx_folder_problem,
                what="the path of a model folder",
                paths=PathCompletion(dirs_only=True),
            ),
            got_path,
        )

    @work(group="models-change", exit_on_error=False)
    async def _register(self, backend_id: str, folder: Path) -> None:
        """Add ``folder`` to the model dirs, save the settings and re-read the backend."""
        try:
            added = await self.deck.controller.register_model_dir(
                backend_id, folder, config=self.deck.config
            )
        except BackendError as exc:
            self._told_added(backend_id, folder, exc)
            return
        self._told_added(backend_id, folder, added)

    def _told_added(self, backend_id: str, folder: Path, added: FolderAdded | BackendError) -> None:
        if isinstance(added, BackendError):
            self.notify(f"Could not add {folder}: {added}", severity="error", markup=False)
            return
        if added.settings_error:
            self.notify(
                f"{folder} is used for now, but the settings could not be saved "
                f"({added.settings_error}).",
                severity="warning",
                markup=False,
            )
        if added.state.status is BackendStatus.UP:
            self.notify(f"Added {folder}.", title="Models", timeout=4, markup=False)
        else:
            self.notify(
                f"Added {folder}, but {backend_id} is down: {added.state.detail}",
                severity="warning",
                markup=False,
            )

    def start_folder_copy(self, backend_id: str, folder: Path) -> Operation:
        """Copy ``folder`` into ``<data dir>/models`` and register that managed folder."""
        managed = self.deck.controller.data_dir / "models"
        return self.deck.controller.copy_model_folder(
            backend_id,
            folder,
            config=self.deck.config,
            registered=lambda added: self._told_added(backend_id, managed, added),
        )
