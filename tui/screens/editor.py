"""The Editor screen: Modelfiles and inference_model.json with live checks, preview and drafts.

Open a document from a model (the Models screen's ``e``: Ollama's Modelfile, or an ONNX folder's
inference_model.json), from a file (ctrl+o, or ``file`` in the start options) or new from a chat
format (ctrl+n). Edits are analysed once per burst of keys: :data:`ANALYSIS_DELAY` after the last
change, the text is parsed once, in a thread, and that one
:class:`~tui.widgets.editor_analysis.Analysis` gives the highlighting, the problems (underlined,
marked in the gutter and listed; enter on one jumps to it) and the prompt of a sample
conversation. ctrl+s saves atomically with a ``.bak``, and every byte of the file that is not
UTF-8 is written back unchanged where it was not edited; ctrl+r creates the model in Ollama (or
writes the ONNX folder's inference_model.json). The text is autosaved as a draft every few seconds
while it differs from what was saved (:class:`~tui.widgets.editor_drafts.DraftKeeper`), and a
draft left by a crash is offered back at the next start.

File and database work runs in threads; a failed save says why and keeps the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Header, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.worker import Worker

from tui.controller import BackendStatus, ModelsChanged, Operation, OperationState, OperationUpdated
from tui.core.diagnostics import Diagnostic
from tui.core.model_names import model_name_problem
from tui.core.modelfile_encoding import ByteKeeper, shown
from tui.core.sanitize import sanitize
from tui.core.text import plural
from tui.messages import ControllerEvent, OptionsGiven
from tui.screens.base import DeckScreen
from tui.types import (
    DEFAULT_FS,
    BackendError,
    Capability,
    ChatMessage,
    CreateRequest,
    FileReadError,
    FileSaveError,
    FileSystem,
    StoreError,
)
from tui.widgets.editor_analysis import LONG_LINE, Analysis, analyze, long_lines, split_lines
from tui.widgets.editor_area import EditorArea
from tui.widgets.editor_dialogs import CompactChoiceDialog as ChoiceDialog
from tui.widgets.editor_doc import INFERENCE_MODEL, KIND_TITLES, MODELFILE, EditorDoc, kind_of
from tui.widgets.editor_drafts import DraftKeeper
from tui.widgets.editor_panes import count_problems, describe_diagnostic, preview_text
from tui.widgets.gauge_strip import GaugeStrip
from tui.widgets.key_bar import KeyBar
from tui.widgets.progress import OperationsPanel
from tui.widgets.prompt import PathCompletion, PromptDialog

if TYPE_CHECKING:
    from textual.timer import Timer

    from tui.types import Draft, DraftBook
    from tui.widgets.editor_preview import Preview

AUTOSAVE_SECONDS = 3.0
"""Seconds between draft autosaves (a draft is written only when the text changed)."""

ANALYSIS_DELAY = 0.1
"""Seconds after the last change before the text is analysed (each change restarts the wait)."""


FORMAT_CHOICES: list[tuple[str, str]] = [
    ("1", "ChatML"),
    ("2", "Llama 3"),
    ("3", "Phi"),
    ("4", "Gemma"),
]
FORMAT_IDS = {"1": "chatml", "2": "llama3", "3": "phi", "4": "gemma"}
SAMPLE_FROM = {
    "chatml": "qwen2.5:0.5b",
    "llama3": "llama3.2",
    "phi": "phi4-mini",
    "gemma": "gemma3:1b",
}
"""The FROM line a new Modelfile of each format starts with (edit it to your base model)."""
QUANTIZE_CHOICES: list[tuple[str, str]] = [
    ("k", "Keep"),
    ("8", "q8_0"),
    ("m", "q4_K_M"),
    ("s", "q4_K_S"),
]
QUANTIZE = {"k": None, "8": "q8_0", "m": "q4_K_M", "s": "q4_K_S"}


class EditorScreen(DeckScreen):
    """Edit Modelfiles and inference_model.json files, then save or create the model."""

    CSS_PATH = "editor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="editor.save", tooltip="Save (atomic, keeps a .bak)"),
        Binding("ctrl+o", "open", "Open", id="editor.open", tooltip="Open a file"),
        Binding("ctrl+n", "new", "New", id="editor.new", tooltip="New from a chat format"),
        Binding(
            "ctrl+r", "create", "Create", id="editor.create", tooltip="Create the model from this"
        ),
        Binding("ctrl+z", "undo", "Undo", id="editor.screen_undo", tooltip="Undo the last edit"),
        Binding("ctrl+y", "redo", "Redo", id="editor.screen_redo", tooltip="Redo"),
        Binding("f2", "problems", "Problems", id="editor.problems", tooltip="Go to the problems"),
        Binding(
            "ctrl+t",
            "convert",
            "Convert",
            id="editor.convert",
            tooltip="Convert to the other kind (Modelfile / inference_model.json), as a new document",
        ),
        Binding("escape", "toggle_focus", "Leave text", show=False, id="editor.toggle_focus"),
    ]

    class Analyzed(Message):
        """The analysis of the text has been shown (highlighting, problems, preview)."""

        def __init__(self, analysis: Analysis) -> None:
            super().__init__()
            self.analysis = analysis

    def __init__(self) -> None:
        super().__init__()
        self.doc = EditorDoc.new(MODELFILE)
        self.file_system: FileSystem = DEFAULT_FS
        """File system calls of saves (a test gives one that fails)."""
        self.keeper = DraftKeeper()
        """Saved and drafted text, and the drafts store."""
        self.bytes = ByteKeeper("")
        """Bytes of the loaded file that are not UTF-8, written back on save."""
        self.analysis = Analysis(MODELFILE, "")
        """The analysis shown now (of the text as it was when it ran)."""
        self.analysis_delay = ANALYSIS_DELAY
        """Seconds of quiet after a change before the analysis runs (a test may lengthen it)."""
        self.store_ready = asyncio.Event()
        """Set once the drafts store is open (or failed to open)."""
        self._analysis_timer: Timer | None = None
        self._options_seen: dict[str, str] | None = None
        self._told_other_drafts = False
        self._wanted: tuple[str, str] | None = None
        self._my_ops: dict[int, tuple[str, str]] = {}
        """Create operations started here: op id -> (draft key, text sent)."""

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """The problems of the latest analysis."""
        return list(self.analysis.diagnostics)

    @property
    def preview(self) -> Preview | None:
        """The preview of the latest analysis (None for an empty text)."""
        return self.analysis.preview

    @property
    def drafts(self) -> DraftBook | None:
        """The drafts store, the controller's (``None`` until open, or when it cannot be)."""
        return self.keeper.book

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="editor-title", markup=False)
        with Horizontal(id="editor-body"):
            yield EditorArea(id="editor-text")
            with Vertical(id="editor-side"):
                yield OptionList(id="editor-problems")
                with VerticalScroll(id="editor-preview-box"):
                    yield Static("", id="editor-preview-note", markup=False)
                    yield Static("", id="editor-preview", markup=False)
        yield OperationsPanel(kinds=("create",), id="editor-ops")
        yield GaugeStrip()
        yield KeyBar()

    @property
    def editor(self) -> EditorArea:
        return self.query_one(EditorArea)

    @property
    def problems(self) -> OptionList:
        return self.query_one("#editor-problems", OptionList)

    def unsaved_work(self) -> list[str]:
        if self.is_mounted and self.dirty:
            return [f"Unsaved edits of {self.doc.title} (kept as a draft for the next start)."]
        return []

    async def before_quit(self) -> None:
        """The edits of the last seconds are drafted too, not only the last autosave."""
        if self.is_mounted:
            await self._keep_unsaved()

    @property
    def dirty(self) -> bool:
        """True when the text differs from what was loaded or last saved."""
        return self.keeper.is_dirty(self.editor.text)

    def on_mount(self) -> None:
        self.editor.placeholder = (
            "ctrl+o opens a file, ctrl+n starts from a chat format; "
            "e on the Models screen opens a model here."
        )
        self.query_one("#editor-preview-box").border_title = "Preview"
        self._show_analysis(self.analysis)
        for op in self.deck.controller.operations.values():
            self.query_one(OperationsPanel).track(op)
        self.editor.focus()
        self._consume_options()
        self._open_store()
        self.set_interval(AUTOSAVE_SECONDS, self._autosave)

    @on(OptionsGiven)
    @on(events.ScreenResume)
    def _resumed(self) -> None:
        self._consume_options()

    def _consume_options(self) -> None:
        # open_screen() replaces the options dict: a new dict is a new request, the same one
        # (switching back with the screen key) is not.
        opts = self.deck.screen_options
        if opts is self._options_seen:
            return
        self._options_seen = opts
        if opts.get("file"):
            self.open_file(Path(opts["file"]).expanduser())
        elif opts.get("model"):
            self._wanted = (opts["model"], opts.get("backend", ""))
            self._resolve_wanted()

    def _resolve_wanted(self) -> None:
        if self._wanted is None:
            return
        name, backend = self._wanted
        if not backend:
            found = [
                m for m in self.deck.controller.all_models() if m.name in (name, f"{name}:latest")
            ]
            if not found:
                return  # the backends have not listed it yet: ModelsChanged tries again
            name, backend = found[0].name, found[0].backend
        self._wanted = None
        self.open_model(backend, name)

    # ------------------------------------------------------------------ analysis

    @on(TextArea.Changed, "#editor-text")
    def _edited(self) -> None:
        # A key costs a timer restart and the title; the parse waits for a pause in typing.
        if self._analysis_timer is not None:
            self._analysis_timer.stop()
        self._analysis_timer = self.set_timer(self.analysis_delay, self.analyze_now)
        self._show_title()

    def analysis_current(self) -> bool:
        """Whether the analysis shown is that of the text as it is now (for tests and benches)."""
        return self._analysis_timer is None and self.analysis.text == self.editor.text

    async def _analysis_of_now(self) -> None:
        """Make the analysis that of the text as it is now (create decides on its problems; the
        debounced one may be of a moment ago, half-typed)."""
        text = self.editor.text
        if self.analysis.text == text:
            return
        if self._analysis_timer is not None:
            self._analysis_timer.stop()
            self._analysis_timer = None
        analysis = await asyncio.to_thread(analyze, self.doc.kind, text, self.bytes)
        if text == self.editor.text:
            self._show_analysis(analysis)

    def analyze_now(self) -> None:
        """Analyse the text now (the debounce timer calls this; a test may too)."""
        if self._analysis_timer is not None:
            self._analysis_timer.stop()
            self._analysis_timer = None
        self._analyze(self.doc.kind, self.editor.text)

    # A description of its own: by default @work describes a worker by the repr of its
    # arguments, and the text may be a megabyte (a copy made and kept per run).
    @work(group="editor-analysis", exclusive=True, exit_on_error=False, description="analysis")
    async def _analyze(self, kind: str, text: str) -> None:
        # Parsing is pure Python and O(text): in a thread, so keys keep flowing. A newer run
        # replaces this one (exclusive); a result for text that has changed since is dropped.
        result = await asyncio.to_thread(analyze, kind, text, self.bytes)
        if kind == self.doc.kind and text == self.editor.text:
            self._show_analysis(result)

    def _show_analysis(self, analysis: Analysis) -> None:
        """Show ``analysis``: highlighting, underlines, the problems list, the preview, title."""
        self.analysis = analysis
        editor = self.editor
        editor.set_analysis(analysis)
        # Textual wraps a long line anew for each row it draws (O(line) per row): without soft
        # wrap a 1 MB line costs one row. The title says why the line is not wrapped.
        editor.soft_wrap = not analysis.long_lines
        problems = self.problems
        highlighted = problems.highlighted
        problems.clear_options()
        diagnostics = analysis.diagnostics
        problems.add_options(
            Option(describe_diagnostic(d), id=str(i)) for i, d in enumerate(diagnostics)
        )
        if diagnostics:
            problems.highlighted = min(highlighted or 0, len(diagnostics) - 1)
        # The counts go below: on the top border, after the title, they were cut at 80 columns.
        problems.border_title = "Problems"
        problems.border_subtitle = count_problems(diagnostics)
        self._show_preview()
        self._show_title()
        self.post_message(self.Analyzed(analysis))

    def _show_preview(self) -> None:
        box = self.query_one("#editor-preview-box")
        note = self.query_one("#editor-preview-note", Static)
        body = self.query_one("#editor-preview", Static)
        preview = self.preview
        if preview is None:
            box.border_title = "Preview"
            note.update("The prompt of a sample conversation shows here.")
            body.update("")
            return
        title = "Preview"
        if preview.format_title:
            title += f" · {preview.format_title}"
        box.border_title = title
        note.update(preview.note)
        body.update(preview_text(preview))

    def _show_title(self) -> None:
        line = Text()
        line.append(sanitize(self.doc.title), style="bold")
        text = self.editor.text
        if text and self.keeper.is_dirty(text):
            line.append("  ● unsaved", style="yellow")
        long = self.analysis.long_lines
        if long:
            which = f"line {long[0] + 1}" if len(long) == 1 else f"{len(long)} lines"
            line.append(
                f"  {which} over {LONG_LINE:,} characters: not highlighted or wrapped",
                style="dim",
            )
        self.query_one("#editor-title", Static).update(line)
        self.editor.border_title = KIND_TITLES.get(self.doc.kind, self.doc.kind)

    @on(OptionList.OptionSelected, "#editor-problems")
    def _jump(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        if index < len(self.diagnostics):
            self.jump_to(self.diagnostics[index])

    def jump_to(self, diagnostic: Diagnostic) -> None:
        """Put the cursor where ``diagnostic`` points and give the text the focus."""
        editor = self.editor
        editor.move_cursor((diagnostic.line - 1, diagnostic.col - 1), center=True)
        editor.focus()

    def action_problems(self) -> None:
        if self.diagnostics:
            self.problems.focus()
        else:
            self.notify("No problems found in this document.", timeout=3, markup=False)

    def action_toggle_focus(self) -> None:
        # The text takes every printable key, screen keys (1-7, q) included: escape leaves it
        # for the problems list, where they work, and comes back.
        if self.editor.has_focus:
            self.problems.focus()
        else:
            self.editor.focus()

    def action_undo(self) -> None:
        self.editor.undo()

    def action_redo(self) -> None:
        self.editor.redo()

    # ------------------------------------------------------------------ loading

    async def load_document(self, doc: EditorDoc, text: str, *, saved: bool) -> None:
        """Show ``text`` as ``doc``; ``saved``: it is what its source holds now.

        ``text`` may hold bytes that are not UTF-8 (as the controller reads a file): they are
        shown as U+FFFD and written back as they were on save. The text is analysed before it
        is shown, so that it never appears without its colours and problems. Unsaved edits of the
        document shown before are kept as a draft first.
        """
        await self._keep_unsaved()
        keeper = ByteKeeper(text)
        text = shown(text)
        if self._analysis_timer is not None:
            self._analysis_timer.stop()
            self._analysis_timer = None
        analysis = await asyncio.to_thread(analyze, doc.kind, text, keeper)
        self.doc = doc
        self.bytes = keeper
        editor = self.editor
        editor.set_kind(doc.kind)
        # A long line is never wrapped, from the first paint (see _show_analysis).
        editor.soft_wrap = not long_lines(split_lines(text))
        editor.load_text(text)
        self.keeper.loaded(text, saved=saved)
        if self._analysis_timer is not None:  # load_text's Changed came first
            self._analysis_timer.stop()
            self._analysis_timer = None
        self._show_analysis(analysis)
        editor.focus()

    async def _keep_unsaved(self) -> None:
        text = self.editor.text
        if not self.keeper.needs_keeping(text):
            return
        problem = await self.keeper.keep(self.doc, text)
        if problem:
            self.notify(problem, title="Drafts", severity="warning", markup=False)
            return
        self.notify(
            f"Your unsaved edits of {self.doc.title} are kept as a draft (offered at next start).",
            timeout=6,
            markup=False,
        )

    @work(group="editor-load", exclusive=True, exit_on_error=False)
    async def open_model(self, backend_id: str, name: str) -> None:
        """Open model ``name`` of ``backend_id``: its Modelfile, or its inference_model.json."""
        if self.doc.backend == backend_id and self.doc.model == name and self.dirty:
            return  # the same model with edits in progress: keep them
        controller = self.deck.controller
        try:
            details = await controller.show(backend_id, name)
        except BackendError as exc:
            self.notify(
                str(exc), title=f"Cannot open {name}", severity="error", timeout=10, markup=False
            )
            return
        if controller.kind_of(backend_id) == "onnx" and details.info.path:
            await self._open_onnx(backend_id, name, Path(details.info.path), details.template)
            return
        if not details.modelfile:
            self.notify(
                f"{backend_id} gives no Modelfile for {name}; only Ollama models and ONNX "
                "folders can be edited here.",
                title="Editor",
                severity="warning",
                timeout=8,
                markup=False,
            )
            return
        doc = EditorDoc(kind=MODELFILE, backend=backend_id, model=name)
        await self.load_document(doc, details.modelfile, saved=True)
        await self._offer_draft_of(doc)

    async def _open_onnx(self, backend_id: str, name: str, folder: Path, template: str) -> None:
        path = folder / "inference_model.json"
        doc = EditorDoc(kind=INFERENCE_MODEL, path=path, backend=backend_id, model=name)
        exists = await asyncio.to_thread(path.is_file)
        if exists:
            try:
                text = await self.deck.controller.read_document(path)
            except FileReadError as exc:
                self.notify(
                    str(exc),
                    title=f"Cannot open {name}",
                    severity="error",
                    timeout=10,
                    markup=False,
                )
                return
            await self.load_document(doc, text, saved=True)
            await self._offer_draft_of(doc)
            return
        from tui.core.chat_formats import detect_format, new_inference_model
        from tui.core.inference_model import dumps

        format_id = detect_format(template)
        text = new_inference_model(format_id, name) if format_id else dumps({"Name": name})
        await self.load_document(doc, text, saved=False)
        self.notify(
            f"{folder} has no inference_model.json yet: this one is new"
            + (" (its chat format is from the tokenizer's template)." if format_id else "."),
            timeout=8,
            markup=False,
        )

    @work(group="editor-load", exclusive=True, exit_on_error=False)
    async def open_file(self, path: Path) -> None:
        """Open a Modelfile or inference_model.json from disk."""
        path = await asyncio.to_thread(lambda: path.expanduser().absolute())
        try:
            text = await self.deck.controller.read_document(path)
        except FileReadError as exc:
            self.notify(str(exc), title="Cannot open", severity="error", timeout=10, markup=False)
            return
        kind = kind_of(path, text)
        backend, model = self._onnx_model_at(path.parent) if kind == INFERENCE_MODEL else ("", "")
        doc = EditorDoc(kind=kind, path=path, backend=backend, model=model)
        await self.load_document(doc, text, saved=True)
        await self._offer_draft_of(doc)

    async def _offer_draft_of(self, doc: EditorDoc) -> None:
        """A draft left for the document just opened is offered now; at the start that asked
        for this document, the others are said to be kept."""
        await self.store_ready.wait()
        book = self.keeper.book
        if book is None:
            return
        try:
            pending = await book.pending()
        except StoreError:
            return
        mine = [d for d in pending if d.key == doc.key and d.text != self.editor.text]
        others = [d for d in pending if d.key != doc.key]
        if others and not self._told_other_drafts:
            self._told_other_drafts = True
            them = "it" if len(others) == 1 else "them"
            self.notify(
                f"{plural(len(others), 'other draft')} kept for later: open its file, or start "
                f"the editor without --file, to get {them} back.",
                title="Drafts",
                timeout=8,
                markup=False,
            )
        if mine:
            await self._offer(mine[0])

    def _onnx_model_at(self, folder: Path) -> tuple[str, str]:
        """The (backend, model) of the ONNX model in ``folder``, when a backend lists it."""
        controller = self.deck.controller
        for backend_id, models in controller.models.items():
            if controller.kind_of(backend_id) != "onnx":
                continue
            for m in models:
                if m.path and Path(m.path).absolute() == folder:
                    return backend_id, m.name
        return "", ""

    def action_open(self) -> None:
        def chosen(value: str | None) -> None:
            if value:
                path = Path(value).expanduser()
                if path.is_dir():
                    for name in ("inference_model.json", "Modelfile"):
                        if (path / name).is_file():
                            path = path / name
                            break
                self.open_file(path)

        start = str(self.doc.path.parent) + "/" if self.doc.path is not None else ""
        self.app.push_screen(
            PromptDialog(
                "Open a Modelfile or inference_model.json",
                value=start,
                help="A file path; a model folder opens its inference_model.json.",
                placeholder="~/models/Modelfile",
                what="a file path",
                paths=PathCompletion(),
            ),
            chosen,
        )

    def action_new(self) -> None:
        self.new_document()

    @work(group="editor-new", exclusive=True, exit_on_error=False)
    async def new_document(self) -> None:
        """Ask for the document type, then its chat format, and start a new document from them.

        The type comes first: it is the bigger choice, and the format's question is then
        asked for that kind of file.
        """
        from tui.core.chat_formats import new_inference_model, new_modelfile

        kind_key = await self.app.push_screen_wait(
            ChoiceDialog(
                "New document",
                "A Modelfile (for Ollama) or an inference_model.json (ONNX / Foundry Local)?",
                [("m", "Modelfile"), ("j", "inference_model.json")],
            )
        )
        if kind_key not in ("m", "j"):
            return
        kind_title = "Modelfile" if kind_key == "m" else "inference_model.json"
        key = await self.app.push_screen_wait(
            ChoiceDialog(f"New {kind_title}", "Which chat format?", FORMAT_CHOICES)
        )
        if key not in FORMAT_IDS:
            return
        format_id = FORMAT_IDS[key]
        if kind_key == "m":
            doc, text = EditorDoc.new(MODELFILE), new_modelfile(format_id, SAMPLE_FROM[format_id])
        else:
            doc, text = EditorDoc.new(INFERENCE_MODEL), new_inference_model(format_id, "my-model")
        await self.load_document(doc, text, saved=False)

    def action_convert(self) -> None:
        self.convert_document()

    @work(group="editor-new", exclusive=True, exit_on_error=False)
    async def convert_document(self) -> None:
        """Convert the text into a new unsaved document of the other kind, losses confirmed first."""
        from tui.core.convert import ConversionError, convert_document
        from tui.widgets.confirm import ConfirmDialog

        text, kind = self.editor.text, self.doc.kind
        if not text.strip():
            self.notify("Nothing to convert.", title="Convert", markup=False)
            return
        try:
            result = await asyncio.to_thread(
                convert_document, kind, text, name=self.doc.model or None
            )
        except ConversionError as exc:
            self.notify(
                str(exc), title="Cannot convert", severity="error", timeout=10, markup=False
            )
            return
        target = INFERENCE_MODEL if kind == MODELFILE else MODELFILE
        if result.lost:
            shown_lost = [f"• {line}" for line in result.lost[:10]]
            if len(result.lost) > 10:
                shown_lost.append(f"… and {len(result.lost) - 10} more")
            question = (
                f"Converting to {KIND_TITLES.get(target, target)} cannot carry over:\n\n"
                + "\n".join(shown_lost)
                + "\n\nOpen the converted document (unsaved)?"
            )
            if not await self.app.push_screen_wait(
                ConfirmDialog("Convert", question, confirm_label="Convert")
            ):
                return
        await self.load_document(EditorDoc.new(target), result.text, saved=False)

    # ------------------------------------------------------------------ saving

    def action_save(self) -> None:
        if self.doc.path is not None:
            self.save_to(self.doc.path)
            return

        def chosen(value: str | None) -> None:
            if value:
                self.save_to(self._save_target(value))

        default = "inference_model.json" if self.doc.kind == INFERENCE_MODEL else "Modelfile"
        if self.doc.model:
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.doc.model).strip("-.")
            default = f"{stem}.Modelfile" if self.doc.kind == MODELFILE else default
        self.app.push_screen(
            PromptDialog(
                "Save as",
                value=str(Path.cwd() / default),
                help="Written atomically; an existing file is kept as <name>.bak.",
                validate=self._save_target_problem,
                what="a file path",
                paths=PathCompletion(),
            ),
            chosen,
        )

    def _save_target(self, value: str) -> Path:
        path = Path(value).expanduser().absolute()
        if path.is_dir():
            path = path / (
                "inference_model.json" if self.doc.kind == INFERENCE_MODEL else "Modelfile"
            )
        return path

    def _save_target_problem(self, value: str) -> str | None:
        path = self._save_target(value)
        if not path.parent.is_dir():
            return f"{path.parent} is not a folder that exists."
        return None

    @work(group="editor-save", exclusive=True, exit_on_error=False)
    async def save_to(self, path: Path) -> bool:
        """Save the text to ``path`` atomically (with a ``.bak``); False when it failed."""
        return await self._save(path)

    async def _save(self, path: Path) -> bool:
        text = self.editor.text
        doc = self.doc
        try:
            result = await self.deck.controller.save_document(
                path, self.bytes.restore(text), fs=self.file_system
            )
        except FileSaveError as exc:
            await self._write_draft(doc, text)
            self.notify(
                f"{exc} Your text is still here, and kept as a draft.",
                title="Not saved",
                severity="error",
                timeout=15,
                markup=False,
            )
            return False
        old_key = doc.key
        self.doc = doc.saved_as(path)
        self.keeper.saved(text)
        await self._discard_drafts(old_key, self.doc.key)
        self.keeper.written = False
        extra = f" (previous version in {result.backup.name})" if result.backup else ""
        if any(d.severity == "error" for d in self.diagnostics):
            extra += f"; it still has {count_problems(self.diagnostics)}"
        self.notify(f"Saved {path}{extra}.", title="Saved", timeout=6, markup=False)
        self._show_title()
        return True

    # ------------------------------------------------------------------ drafts

    @work(group="editor-store", exit_on_error=False)
    async def _open_store(self) -> None:
        try:
            store = await self.deck.controller.drafts()
        except StoreError as exc:
            self.notify(
                f"{exc}. Drafts are not autosaved.",
                title="Drafts",
                severity="error",
                timeout=15,
                markup=False,
            )
            self.store_ready.set()
            return
        self.keeper.book = store
        self.store_ready.set()
        try:
            pending = await store.pending()
        except StoreError as exc:
            self.notify(str(exc), title="Drafts", severity="error", timeout=10, markup=False)
            return
        # Asked for a document (--file, or a model from Models): its own draft is offered once it
        # is open (restoring it keeps that document), the others wait for a start that asks for
        # nothing, or for their own document to be opened (see _offer_draft_of).
        if self._requested_key() is not None:
            return
        for draft in pending:
            if not await self._offer(draft):
                return

    def _requested_key(self) -> str | None:
        """The draft key of the document this screen was opened for, or None (nothing asked)."""
        opts = self.deck.screen_options
        if opts.get("file"):
            return str(Path(opts["file"]).expanduser().absolute())
        if opts.get("model"):
            return f"{opts.get('backend', '')}:{opts['model']}"
        return None

    def worker_failed(self, worker: Worker[object]) -> None:
        if worker.name == "_open_store":
            self.store_ready.set()  # opened, or not: nothing waits for it any more

    async def _offer(self, draft: Draft) -> bool:
        """Offer one draft back; True to go on to the next one."""
        doc = EditorDoc.from_origin(draft.origin, draft.kind, draft.key)
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(draft.updated_at))
        lines = [ln[:60] for ln in draft.text.splitlines() if ln.strip()][:3]
        message = f"{doc.title}\nautosaved {when}, not saved since.\n\n" + "\n".join(lines)
        answer = await self.app.push_screen_wait(
            ChoiceDialog(
                "Unsaved draft found",
                message,
                [("r", "Restore"), ("d", "Discard")],
            )
        )
        if answer == "r":
            await self.load_document(doc, draft.text, saved=False)
            self.keeper.written = True
            self.notify(f"Restored the draft of {doc.title}.", timeout=5, markup=False)
            return False
        if answer == "d":
            await self._discard_drafts(draft.key)
            return True
        return False  # later: offered again at next start

    async def _write_draft(self, doc: EditorDoc, text: str) -> None:
        problem = await self.keeper.write(doc, text)
        if problem:
            self.notify(problem, title="Drafts", severity="warning", markup=False)

    async def _discard_drafts(self, *keys: str) -> None:
        problem = await self.keeper.discard(*keys)
        if problem:
            self.notify(problem, title="Drafts", severity="warning", markup=False)

    def _autosave(self) -> None:
        text = self.editor.text
        if self.keeper.autosave_due(text):
            self._autosave_now(self.doc, text)

    @work(group="editor-draft", exclusive=True, exit_on_error=False, description="autosave")
    async def _autosave_now(self, doc: EditorDoc, text: str) -> None:
        problem = await self.keeper.autosave(doc, text)
        if problem:
            self.notify(problem, title="Drafts", severity="warning", markup=False)

    async def on_unmount(self) -> None:
        # A clean exit keeps what the last autosave missed; a crash keeps the last autosave.
        # (The store is the controller's: it closes it after every screen is gone.)
        with contextlib.suppress(Exception):
            await self.keeper.on_close(self.doc, self.editor.text)
        self.keeper.book = None

    # ------------------------------------------------------------------ create

    async def action_create(self) -> None:
        if self.doc.kind == INFERENCE_MODEL:
            self._apply_inference_model()
            return
        await self._analysis_of_now()
        errors = [d for d in self.diagnostics if d.severity == "error"]
        if errors or not self.editor.text.strip():
            what = count_problems(self.diagnostics) if errors else "the document is empty"
            self.notify(
                f"Fix the Modelfile first ({what}; f2 lists them).",
                title="Create",
                severity="warning",
                markup=False,
            )
            return
        backend_id = self._create_backend()
        if backend_id is None:
            return
        self.ask_create(backend_id)

    def _create_backend(self) -> str | None:
        controller = self.deck.controller
        able = controller.backend_ids(Capability.CREATE)
        if not able:
            self.notify(
                "No backend that can create models is configured (Ollama is needed).",
                title="Create",
                severity="warning",
                markup=False,
            )
            return None
        if self.doc.backend in able:
            return self.doc.backend
        up = [b for b in able if controller.states[b].status is BackendStatus.UP]
        if up:
            return up[0]
        state = controller.states[able[0]]
        self.notify(
            f"{able[0]} is not up: {state.detail or state.status.value}.",
            title="Create",
            severity="error",
            timeout=10,
            markup=False,
        )
        return None

    @work(group="editor-create", exclusive=True, exit_on_error=False)
    async def ask_create(self, backend_id: str) -> None:
        """Ask for the new model's name and a quantization, then start the create."""
        default = "my-model"
        if self.doc.model:
            default = self.doc.model.split(":", 1)[0].rsplit("/", 1)[-1] + "-custom"
        name = await self.app.push_screen_wait(
            PromptDialog(
                f"Create a model in {backend_id}",
                value=default,
                help="The new model's name; an existing model of that name is replaced.",
                validate=model_name_problem,
                what="a model name",
            )
        )
        if not name:
            return
        quantize = await self.app.push_screen_wait(
            ChoiceDialog(
                "Quantize?",
                "Quantize the weights while creating (only from F16/F32 weights), or keep them.",
                QUANTIZE_CHOICES,
            )
        )
        if quantize not in QUANTIZE:
            return
        self.start_create(backend_id, name, QUANTIZE[quantize])

    def start_create(self, backend_id: str, name: str, quantize: str | None) -> Operation | None:
        """Send the Modelfile to ``backend_id``'s create as model ``name``; None if it cannot."""
        from tui.core.diagnostics import DiagnosticError
        from tui.core.modelfile import parse
        from tui.core.modelfile_create import CreateProblem, plan_create

        text = self.editor.text
        base = self.doc.path.parent if self.doc.path is not None else Path.cwd()
        try:
            plan = plan_create(parse(text), base=base, model=self.doc.model)
        except DiagnosticError as exc:
            self.notify(
                f"Fix the Modelfile first: {exc}", title="Create", severity="warning", markup=False
            )
            return None
        except CreateProblem as exc:
            self.notify(str(exc), title="Create", severity="error", timeout=12, markup=False)
            return None
        fields = plan.fields
        request = CreateRequest(
            model=name,
            from_=plan.from_,
            template=fields.template,
            system=fields.system,
            license=list(fields.license) or None,
            parameters=dict(fields.parameters) or None,
            messages=[ChatMessage(m["role"], m["content"]) for m in fields.messages] or None,
            quantize=quantize,
        )
        # Local weights or an adapter are uploaded as blobs first (air-gapped: no registry).
        op = self.deck.controller.create(
            backend_id, request, files=plan.files, adapters=plan.adapters
        )
        self._my_ops[op.id] = (self.doc.key, text)
        self.query_one(OperationsPanel).track(op)
        return op

    @work(group="editor-save", exclusive=True, exit_on_error=False)
    async def _apply_inference_model(self) -> None:
        doc = self.doc
        folder_model = doc.path is not None and doc.backend and doc.model
        if not folder_model or doc.path is None:
            self.notify(
                "Create writes inference_model.json into an ONNX model folder: open the model "
                "from the Models screen (e), or save this file with ctrl+s.",
                title="Create",
                severity="warning",
                timeout=8,
                markup=False,
            )
            return
        if any(d.severity == "error" for d in self.diagnostics):
            self.notify(
                f"Fix the errors first ({count_problems(self.diagnostics)}): the model would not load.",
                title="Create",
                severity="warning",
                markup=False,
            )
            return
        if await self._save(doc.path):
            await self.deck.controller.refresh(doc.backend)
            self.notify(
                f"{doc.model} uses the new inference_model.json now.", timeout=6, markup=False
            )

    # ------------------------------------------------------------------ controller events

    @on(ControllerEvent)
    def _controller_event(self, message: ControllerEvent) -> None:
        event = message.event
        if isinstance(event, ModelsChanged) and self._wanted is not None:
            self._resolve_wanted()
        elif isinstance(event, OperationUpdated):
            self.query_one(OperationsPanel).track(event.operation)
            self._operation_finished(event.operation)

    def _operation_finished(self, op: Operation) -> None:
        if op.id not in self._my_ops or op.state is OperationState.RUNNING:
            return
        key, text = self._my_ops.pop(op.id)
        if op.state is OperationState.DONE:
            self.notify(
                f"{op.title.removeprefix('create ')} is created.", title="Create", markup=False
            )
            if self.doc.key == key and self.doc.path is None:
                # For a model's Modelfile (no file), creating the model is what saving means.
                self.keeper.saved(text)
                self._show_title()
                self.run_worker(
                    self._discard_drafts(key), group="editor-draft", exit_on_error=False
                )
        elif op.state is OperationState.FAILED:
            self.notify(op.error, title="Create failed", severity="error", timeout=15, markup=False)
