"""Matching the forms of secrets in text: the patterns behind `reqflo.secrets.redact`.

Owns the forms of a secret part (raw; UTF-8 hex in both cases and base64 at every byte
alignment once it has MIN_ENCODED_SECRET_LENGTH characters), the pattern of a form (each
character raw or escaped by JSON, URL or HTML encoders, see `_char_pattern`), the two
matchers (`Matcher`: one alternation of every form; `LiteralMatcher`: the few secrets
added later, found with `str.find` and a lazily compiled pattern) and `mask_spans`,
which replaces matched spans by MASK, merged with the masks already in the text.

Quick test: an unreserved character of a form is matched only literally, so every match
of a form contains the form's *core* (its longest run of unreserved characters). Before
any pattern runs, `redact` looks for the cores of every group (and the derived literals)
with `in`; a text containing none of them is returned as is, which is the common case.
A form with no core (a secret made only of escaped characters) turns the test off.
"""

from __future__ import annotations

import binascii
import bisect
import re
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass

MASK = "[REDACTED]"
MIN_ENCODED_SECRET_LENGTH = 4
MIN_LINE_LENGTH = 4
NEVER = sys.maxsize  # the `shortest` of a matcher without forms

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_UNRESERVED_TEXT = re.compile(r"[A-Za-z0-9._~-]*")  # fullmatch: text of unreserved chars only
_UNRESERVED_RUN = re.compile(r"[A-Za-z0-9._~-]+")
_ZEROS = (b"", b"\0", b"\0\0")  # base64 alignment prefixes
_JSON_SHORT_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b",
    "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
}  # fmt: skip
# One or more backslashes before an escape: JSON inside JSON (\\\" for "), reprs of JSON.
_ESCAPED = r"\\+"
_HTML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
_URLSAFE = str.maketrans("+/", "-_")
_MASK_PATTERN = re.compile(re.escape(MASK))


@dataclass(frozen=True)
class Matcher:
    """Compiled patterns for one snapshot of the secret set."""

    search: re.Pattern[str]  # any form, longest first
    all_at: re.Pattern[str]  # one optional lookahead group per form: every form matching here
    may_touch_mask: bool  # a match could overlap a MASK's edge, so repeat until stable
    shortest: int  # no text shorter than the shortest form can match
    cores: tuple[str, ...] | None  # every match contains one of these; None: no such filter

    @classmethod
    def build(cls, secrets: Iterable[str]) -> Matcher:
        parts = {part for secret in secrets for part in _secret_parts(secret)}
        return cls.of_forms({form for part in parts for form in _forms(part)}, parts)

    @classmethod
    def of_forms(cls, forms: Iterable[str], parts: Iterable[str]) -> Matcher:
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        patterns = list(dict.fromkeys(_text_pattern(form) for form in ordered))
        return cls(
            search=re.compile("|".join(patterns)),
            all_at=re.compile("".join(f"(?:(?=({p}))|)" for p in patterns)),
            may_touch_mask=_may_touch_mask(parts),
            shortest=min((len(form) for form in ordered), default=NEVER),
            cores=_prefilter(ordered),
        )

    def needles(self) -> list[str] | None:
        return None if self.cores is None else list(self.cores)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of the longest match at every position where some form starts."""
        found: list[tuple[int, int]] = []
        cores = self.cores
        if cores is not None:
            for core in cores:
                if core in text:
                    break
            else:  # no form's literal core occurs: nothing can match
                return found
        position = 0
        while (match := self.search.search(text, position)) is not None:
            start = match.start()
            found.append((start, self._longest_end(text, start, match.end())))
            position = start + 1
        return found

    def _longest_end(self, text: str, start: int, end: int) -> int:
        every = self.all_at.match(text, start)
        if every is None:  # pragma: no cover - the pattern always matches
            return end
        ends = (every.end(group) for group in range(1, self.all_at.groups + 1))
        return max(end, *ends)


class LiteralMatcher:
    """The forms of a few secrets added later, matched without compiling a big pattern.

    A form made only of unreserved characters matches exactly its own text (see
    `_char_pattern`), so it is found with `str.find` at every start. The other forms are
    compiled into one `Matcher`, lazily: only once a text contains the *core* of one of
    them (its longest run of unreserved characters, which every match must contain
    literally). A form with no such core compiles at once.
    """

    def __init__(self, literals: set[str], others: set[str], parts: set[str]) -> None:
        self.literals = tuple(sorted(literals, key=len))  # shortest first: see `spans`
        self.others = others
        self.cores = tuple({_core(form) for form in others}) if others else ()
        self.may_touch_mask = _may_touch_mask(parts)
        # a match of an escaped form is at least as long as the form (escapes only grow)
        self._shortest_other = min(map(len, others)) if others else NEVER
        self.shortest = (
            min(len(self.literals[0]), self._shortest_other) if literals else (self._shortest_other)
        )
        self._parts = parts
        self._compiled: Matcher | None = None
        if "" in self.cores:
            self._compiled = Matcher.of_forms(others, parts)

    @classmethod
    def build(cls, secrets: Iterable[str]) -> LiteralMatcher:
        parts = {part for secret in secrets for part in _secret_parts(secret)}
        forms = {form for part in parts for form in _forms(part)}
        literals = {form for form in forms if _UNRESERVED_TEXT.fullmatch(form)}
        return cls(literals, forms - literals, parts)

    def needles(self) -> list[str] | None:
        """The literal forms and the cores of the others (None when one has no core)."""
        if "" in self.cores:
            return None
        return [*self.literals, *self.cores]

    def spans(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        size = len(text)
        for literal in self.literals:
            if len(literal) > size:  # this one and every longer one cannot occur
                break
            start = text.find(literal)
            while start >= 0:
                found.append((start, start + len(literal)))
                start = text.find(literal, start + 1)
        if size < self._shortest_other:
            return found
        compiled = self._compiled
        if compiled is None and self.others:
            for core in self.cores:
                if core in text:
                    compiled = self._compiled = Matcher.of_forms(self.others, self._parts)
                    break
        if compiled is not None:
            found += compiled.spans(text)
        return found


def _core(form: str) -> str:
    """The longest run of unreserved characters of `form` (matched only literally)."""
    runs = _UNRESERVED_RUN.findall(form)
    return max(runs, key=len) if runs else ""


def _prefilter(forms: Iterable[str]) -> tuple[str, ...] | None:
    """Literal cores such that every match of some form contains one of them (None when a
    form has no core). A core containing another core is left out: the shorter one is
    found wherever the longer one is."""
    cores = sorted({_core(form) for form in forms}, key=len)
    if not cores or cores[0] == "":
        return None
    kept: list[str] = []
    for core in cores:
        if not any(shorter in core for shorter in kept):
            kept.append(core)
    return tuple(kept)


def _may_touch_mask(parts: Iterable[str]) -> bool:
    return any("[" in part or "]" in part for part in parts)


def mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace spans (merged with overlapping MASKs) by MASK; `text` itself if none apply."""
    masks = [(m.start(), m.end()) for m in _MASK_PATTERN.finditer(text)]
    mask_starts = [start for start, _ in masks]
    live = [span for span in spans if not _inside_a_mask(span, masks, mask_starts)]
    if not live:
        return text
    pieces: list[str] = []
    cursor = 0
    for start, end in _merge_overlapping(sorted(live + masks)):
        pieces += [text[cursor:start], MASK]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _inside_a_mask(span: tuple[int, int], masks: list[tuple[int, int]], starts: list[int]) -> bool:
    index = bisect.bisect_right(starts, span[0]) - 1
    return index >= 0 and masks[index][1] >= span[1]


def _merge_overlapping(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _secret_parts(secret: str) -> set[str]:
    """The secret and each of its stripped lines long enough to mask on its own."""
    lines = {line.strip() for line in secret.splitlines()}
    return {secret} | {line for line in lines if len(line) >= MIN_LINE_LENGTH}


def _forms(part: str) -> set[str]:
    """Literal forms of one secret part; each is then matched with per-char escapes."""
    if len(part) < MIN_ENCODED_SECRET_LENGTH:
        return {part}
    data = part.encode("utf-8", "surrogatepass")
    hexed = data.hex()
    return {part, hexed, hexed.upper()} | _base64_forms(data)


def _base64_forms(data: bytes) -> set[str]:
    whole = binascii.b2a_base64(data, newline=False).decode("ascii")
    standard = {whole, whole.rstrip("=")}
    for offset in range(3):  # the secret starting at byte offset 0, 1 or 2 mod 3
        encoded = (
            binascii.b2a_base64(_ZEROS[offset] + data, newline=False).decode("ascii")
            if offset
            else whole
        )
        first_stable = -(-8 * offset // 6)  # first char made only of the secret's bits
        end_stable = 8 * (offset + len(data)) // 6
        standard.add(encoded[first_stable:end_stable])
    urlsafe = {form.translate(_URLSAFE) for form in standard if "+" in form or "/" in form}
    return standard | urlsafe


def _text_pattern(form: str) -> str:
    return "".join(_char_pattern(char) for char in form)


def _char_pattern(char: str) -> str:
    """The char raw or escaped by JSON, URL or HTML encoders (escapes first: longest)."""
    if char in _UNRESERVED:
        return re.escape(char)
    code = ord(char)
    alternatives = ["".join("%" + _any_case_hex(f"{b:02X}") for b in _utf8(char))]
    alternatives.append("".join(_ESCAPED + "u" + _any_case_hex(f"{u:04x}") for u in _utf16(code)))
    alternatives += [f"&#0*{code};", f"&#[xX]0*{_any_case_hex(f'{code:x}')};"]
    if code < 0x100:  # Python repr's \xNN
        alternatives.append(_ESCAPED + "x" + _any_case_hex(f"{code:02x}"))
    if char in _JSON_SHORT_ESCAPES:
        alternatives.append(_ESCAPED + re.escape(_JSON_SHORT_ESCAPES[char][1:]))
    if char == "'":  # Python repr's \'
        alternatives.append(_ESCAPED + "'")
    if char in _HTML_NAMED:
        alternatives.append(re.escape(_HTML_NAMED[char]))
    if char == " ":
        alternatives.append(r"\+")
    alternatives.append(re.escape(char))
    return "(?:" + "|".join(alternatives) + ")"


def _any_case_hex(digits: str) -> str:
    return "".join(f"[{d.upper()}{d.lower()}]" if d.isalpha() else d for d in digits)


def _utf8(char: str) -> bytes:
    return char.encode("utf-8", "surrogatepass")


def _utf16(code: int) -> tuple[int, ...]:
    if code < 0x10000:
        return (code,)
    offset = code - 0x10000
    return (0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF))
