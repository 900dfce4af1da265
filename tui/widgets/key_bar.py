"""The one-line footer of every deck screen: this screen's keys first, then one hint for the rest.

Textual's ``Footer`` lists every shown binding in the order the binding chain gives (the app's
before the screen's on most screens) and cuts what does not fit, so at 80 columns a screen's own
keys vanished behind ``1``…``7``. It also recomposes on every bindings change, and each recompose
leaks a watcher in Textual 8 (Textualize/textual#6666). This bar renders one line instead:

* the keys of the focused widget's screen (``show=True`` ones, in their declared order), then
  the shown keys of the focused widget, as many as fit;
* always at the right: ``1-8 Screens``, ``? Keys`` (``? More`` when keys were left out; the
  panel lists every key of the screen) and ``q Quit`` (``^q Quit`` while a text field has focus,
  where ``q`` types a letter).

A click on a key presses it, as the stock footer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea

URGENT_ACTIONS = frozenset({"cancel", "stop"})
"""Actions shown first when they are offered: stopping what runs matters most."""

SCREEN_KEYS_HINT = ("1-8", "Screens")
"""The compact hint for the screen-switching keys ``1``…``8``."""


@dataclass(frozen=True)
class Hint:
    """One key shown in the bar."""

    key: str
    """The key pressed when the hint is clicked."""
    display: str
    description: str
    enabled: bool = True
    urgent: bool = False


def text_has_focus(screen: Screen[object]) -> bool:
    """Whether the focused widget takes printable keys (so ``q`` types instead of quitting)."""
    return isinstance(screen.focused, Input | TextArea)


def screen_hints(screen: Screen[object]) -> list[Hint]:
    """The shown keys of ``screen`` and of its focused widget, screen's first, one per action."""
    app = screen.app
    own: list[Hint] = []
    widget: list[Hint] = []
    seen: set[tuple[int, str]] = set()
    for node, binding, enabled, _tooltip in screen.active_bindings.values():
        if not binding.show or node is app:
            continue
        mark = (id(node), binding.action)
        if mark in seen:
            continue
        seen.add(mark)
        urgent = binding.action in URGENT_ACTIONS
        display = app.get_key_display(binding)
        hint = Hint(binding.key, display, binding.description, enabled, urgent)
        (own if node is screen else widget).append(hint)
    own.sort(key=lambda hint: hint.urgent is False)
    return [*own, *widget]


def tail_hints(screen: Screen[object], *, more: bool) -> list[Hint]:
    """What is always shown at the right of the bar."""
    quit_key = "ctrl+q" if text_has_focus(screen) else "q"
    quit_display = "^q" if quit_key == "ctrl+q" else "q"
    return [
        Hint("", SCREEN_KEYS_HINT[0], SCREEN_KEYS_HINT[1]),
        Hint(
            "question_mark" if quit_key == "q" else "f1",
            "?" if quit_key == "q" else "f1",
            "More" if more else "Keys",
        ),
        Hint(quit_key, quit_display, "Quit"),
    ]


def hint_width(hint: Hint) -> int:
    return len(hint.display) + 1 + len(hint.description) + 2


def fit_hints(hints: list[Hint], tail: list[Hint], width: int) -> tuple[list[Hint], bool]:
    """The hints that fit in ``width`` beside ``tail``, and whether any were left out."""
    room = width - sum(hint_width(h) for h in tail)
    shown: list[Hint] = []
    for hint in hints:
        if hint_width(hint) > room:
            return shown, True
        shown.append(hint)
        room -= hint_width(hint)
    return shown, False


class KeyBar(Widget):
    """The footer line of a deck screen (see the module docstring)."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    KeyBar > .key-bar--description { color: $footer-description-foreground; }
    KeyBar > .key-bar--disabled { color: $text-disabled; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--disabled",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, Hint]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Screen[object]) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.refresh()

    def hints(self) -> list[Hint]:
        """The hints this bar shows now, left to right (for the tests, too)."""
        screen = self.screen
        own = screen_hints(screen)
        first_try = tail_hints(screen, more=False)
        shown, cut = fit_hints(own, first_try, self.size.width or self.app.size.width)
        return [*shown, *(tail_hints(screen, more=True) if cut else first_try)]

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        off_style = self.get_component_rich_style("key-bar--disabled")
        hints = self.hints()
        own = hints[:-3]
        tail = hints[-3:]
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, Hint]] = []
        for group in (own, tail):
            if group is tail:
                gap = self.size.width - line.cell_len - sum(hint_width(h) for h in tail)
                line.append(" " * max(gap, 0))
            for hint in group:
                start = line.cell_len
                keys, words = (key_style, text_style) if hint.enabled else (off_style, off_style)
                line.append(f" {hint.display}", keys)
                line.append(f" {hint.description} ", words)
                spans.append((start, line.cell_len, hint))
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, hint in self._spans:
            if start <= event.x < end and hint.key:
                event.stop()
                if hint.enabled:
                    self.app.simulate_key(hint.key)
                else:
                    self.app.bell()
                return
