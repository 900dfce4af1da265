"""Dialogs of the Chat screen: session parameters and the model picker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from tui.core.chat.options import OPTION_NAMES, parse_option
from tui.core.sanitize import sanitize
from tui.types import ModelInfo

_HINTS = {
    "temperature": "0–2, e.g. 0.7",
    "top_p": "0–1, e.g. 0.9",
    "num_ctx": "context tokens, e.g. 4096",
    "seed": "integer, for repeatable replies",
    "max_tokens": "stop after this many tokens",
}

ParamsResult = tuple[str, dict[str, Any]]


class ParamsDialog(ModalScreen[ParamsResult | None]):
    """Edit a session's system prompt and generation parameters; empty means backend default."""

    DEFAULT_CSS = """
    ParamsDialog { align: center middle; }
    ParamsDialog > Vertical {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    ParamsDialog VerticalScroll { height: auto; max-height: 1fr; }
    ParamsDialog TextArea { height: 5; }
    ParamsDialog .param-row { height: 1; }
    ParamsDialog .param-row Label { width: 14; }
    ParamsDialog .param-row Input { width: 1fr; border: none; height: 1; padding: 0 1; }
    ParamsDialog #params-error { color: $error; height: auto; }
    ParamsDialog #params-buttons { height: auto; align-horizontal: right; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.params.cancel"),
        Binding("ctrl+s", "save", "Save", id="chat.params.save"),
    ]

    def __init__(self, system_prompt: str, options: dict[str, Any]) -> None:
        super().__init__()
        self._system = system_prompt
        self._options = options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Session parameters[/b]  (empty = backend default)")
            with VerticalScroll():
                yield Label("System prompt")
                yield TextArea(self._system, id="param-system", soft_wrap=True)
                for name in OPTION_NAMES:
                    value = self._options.get(name)
                    with Horizontal(classes="param-row"):
                        yield Label(name)
                        yield Input(
                            "" if value is None else str(value),
                            placeholder=_HINTS[name],
                            id=f"param-{name}",
                        )
            yield Static("", id="params-error", markup=False)  # it quotes what was typed
            with Horizontal(id="params-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="params-save")
                yield Button("Cancel (esc)", id="params-cancel")

    def on_mount(self) -> None:
        area = self.query_one("#param-system", TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#params-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#params-save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        options: dict[str, Any] = {}
        try:
            for name in OPTION_NAMES:
                value = parse_option(name, self.query_one(f"#param-{name}", Input).value)
                if value is not None:
                    options[name] = value
        except ValueError as exc:
            self.query_one("#params-error", Static).update(str(exc))
            return
        self.dismiss((self.query_one("#param-system", TextArea).text, options))


class ModelPicker(ModalScreen[ModelInfo | None]):
    """Choose a chat model from every backend that is up; typing filters the list."""

    DEFAULT_CSS = """
    ModelPicker { align: center middle; }
    ModelPicker > Vertical {
        width: 70; max-width: 100%; height: auto; max-height: 80%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    ModelPicker #model-filter { border: none; height: 1; padding: 0 1; }
    ModelPicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat.models.cancel"),
        # While the filter has the focus, up/down move through the list all the same.
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
    ]

    def __init__(self, models: Sequence[ModelInfo], current: tuple[str, str] | None) -> None:
        super().__init__()
        self._models = list(models)
        self._current = current
        self.shown: list[ModelInfo] = list(self._models)
        """The models the filter leaves, in the list's order."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Choose a model[/b]  (type to filter, enter to pick, esc to cancel)")
            if not self._models:
                yield Static("No chat models found yet: check the Backends screen (key 1).")
            yield Input(placeholder="filter: name, backend, family…", id="model-filter")
            yield OptionList(id="model-options")

    def on_mount(self) -> None:
        self._fill("")
        options = self.query_one(OptionList)
        for i, m in enumerate(self.shown):
            if self._current == (m.backend, m.name):
                options.highlighted = i
        self.query_one("#model-filter", Input).focus()

    def _fill(self, query: str) -> None:
        words = query.lower().split()
        self.shown = [
            m
            for m in self._models
            if all(
                w in f"{m.name} {m.backend} {m.family} {m.parameter_size}".lower() for w in words
            )
        ]
        options = self.query_one(OptionList)
        options.clear_options()
        for i, m in enumerate(self.shown):
            label = Text(sanitize(m.name), style="bold")
            detail = " ".join(x for x in (m.parameter_size, m.quantization) if x)
            label.append(f"  {m.backend}", style="dim")
            if detail:
                label.append(f"  {sanitize(detail)}", style="dim")
            options.add_option(Option(label, id=str(i)))
        if self.shown:
            options.highlighted = 0

    @on(Input.Changed, "#model-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#model-filter")
    def _submit_filter(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None and self.shown:
            self.dismiss(self.shown[options.highlighted])

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if step < 0:
            options.action_cursor_up()
        else:
            options.action_cursor_down()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.shown[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
