"""What the console prints comes from servers and files: their control characters must
not drive the terminal (colours, cursor moves, OSC 8 hyperlinks, a carriage return that
overwrites a "failed" line).

Owns `visible_controls(text)`, which shows each C0/C1 control character except newline
and tab as a visible symbol of the same length (ESC as ␛, CR as ␍, others from the
Control Pictures block or U+FFFD), and `ControlCharacters`, a Rich render hook applying
it to every `Text`, string and `Group` the console prints. Same-length symbols keep the
styles of a `Text` on the right characters; the console's own styling is untouched.
`safe_console()` is the CLI's console: that hook, and no Rich markup in printed strings
(a run key or journey name like "[/x]" is text, not markup that fails to parse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import (
    Console,
    ConsoleRenderable,
    Group,
    RenderableType,
    RenderHook,
    RichCast,
)
from rich.text import Text

_SYMBOLS = {
    **{code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)},
    0x7F: "\u2421",
    **{code: "\ufffd" for code in range(0x80, 0xA0)},
}


def visible_controls(text: str) -> str:
    return text.translate(_SYMBOLS)


class ControlCharacters(RenderHook):
    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_defanged(r) for r in renderables]  # type: ignore[misc]


def _defanged(renderable: RenderableType | RichCast) -> RenderableType | RichCast:
    if isinstance(renderable, str):
        return visible_controls(renderable)
    if isinstance(renderable, Text):
        safe = visible_controls(renderable.plain)
        if safe == renderable.plain:
            return renderable
        copy = renderable.copy()
        copy.plain = safe  # same length: every span keeps its characters
        return copy
    if isinstance(renderable, Group):
        return Group(*_all(renderable.renderables), fit=renderable.fit)
    return renderable


def _all(renderables: Sequence[RenderableType]) -> list[RenderableType]:
    return [_defanged(r) for r in renderables]


def safe_console(**options: Any) -> Console:
    console = Console(markup=False, highlight=False, soft_wrap=True, **options)
    console.push_render_hook(ControlCharacters())
    return console
