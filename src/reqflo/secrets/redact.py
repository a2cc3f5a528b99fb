"""Redaction: mask every known secret, in every encoding, in any text Reqflo outputs.

Owns `Redactor` (the set of secret values of a run and the compiled matcher that masks
them), header masking, JSON-value walking and `RedactingFilter` for `logging`.

What is masked, for each secret and for each line (stripped, >= MIN_LINE_LENGTH chars)
of a multi-line secret, replaced by `MASK`:

* text forms: the raw value and any mix of per-character escapes a serialiser may
  apply - JSON (`\\"`, `\\n`, `\\u00e9`, surrogate pairs, `\\/`), URL percent-encoding
  (any safe set, upper or lower hex, `+` for space) and HTML (`&amp;`, `&#39;`,
  `&#x27;`, `&#233;` ...). One pattern per form covers json.dumps with and without
  ensure_ascii, quote/quote_plus with any `safe`, html.escape and markupsafe;
* binary forms (secrets of at least MIN_ENCODED_SECRET_LENGTH chars): UTF-8 hex (lower
  and upper case) and base64 (standard and URL-safe, with and without padding). Base64
  is masked at every byte alignment: for a secret starting at offset 0, 1 or 2 (mod 3)
  of a larger blob - `base64("user:" + secret)` in Basic auth - the characters that
  depend only on the secret's bytes form a stable chunk, and that chunk is masked. The
  one or two characters on each edge of the chunk mix secret bits with neighbouring
  bytes and stay visible: they reveal at most a few bits, never the value. Binary forms
  are also matched when URL-encoded or JSON-escaped (`%2B`, `%3D`, `\\/`).

Trade-offs: secrets shorter than MIN_ENCODED_SECRET_LENGTH are masked only in their
text forms, since the hex or base64 of one to three bytes occurs by chance in ordinary
output and masking it would shred reports without protecting anything. Double
encodings (URL-encoding of URL-encoding, HTML-escaping of JSON escapes) and wrapped
(MIME, 76-column) base64 are not recognised: redact values *before* rendering them into
another format, then redact the rendered output again as a second line of defence. A
secret that is a substring of `MASK` itself cannot be hidden inside the mask.

Matching is one compiled alternation of every form (longest first) for the secrets given
at construction, built once, lazily. Secrets `add()`ed later (a token per run instance)
form a second, small group, so adding one never recompiles the first: the group's forms
made only of unreserved characters are plain literals found with `str.find`, and a
pattern for its other forms is compiled only once some text contains the literal core of
one of them. (After MAX_DERIVED additions everything is folded into one alternation.)
`fork()` copies a redactor cheaply, sharing its compiled matchers. Every match start of
every group is found, the longest match at each start kept, overlapping matches are
merged, and text that is already a `MASK` is left alone, so `redact` is idempotent:
`redact(redact(t)) == redact(t)`. When a secret contains `[` or `]` a match could span a
mask's edge; redaction then repeats until nothing changes, which also keeps it idempotent.

Quick test: an unreserved character of a form is matched only literally, so every match
of a form contains the form's *core* (its longest run of unreserved characters). Before
any pattern runs, `redact` looks for the cores of every group (and the derived literals)
with `in`; a text containing none of them is returned as is, which is the common case.
A form with no core (a secret made only of escaped characters) turns the test off.
"""

from __future__ import annotations

import binascii
import bisect
import logging
import re
import string
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MASK = "[REDACTED]"
MIN_ENCODED_SECRET_LENGTH = 4
MIN_LINE_LENGTH = 4
MAX_DERIVED = 16  # secrets added after construction before the groups are folded into one
ALWAYS_MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

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
_NEVER = sys.maxsize
_AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*")


class Redactor:
    """Masks a growing set of secret values in text, JSON values, headers and logs.

    Thread-safe: `add` may be called while other threads redact.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._base: set[str] = {s for s in secrets if s}  # matched by `_matcher`
        self._derived: set[str] = set()  # added later, matched by `_derived_matcher`
        self._matcher: _Matcher | None = None
        self._derived_matcher: _LiteralMatcher | None = None
        self._state: _State | None = None  # both matchers, built, with their quick test

    def __repr__(self) -> str:  # never show the values
        return f"Redactor({len(self)} secrets)"

    def __len__(self) -> int:
        return len(self._base) + len(self._derived)

    def add(self, value: str) -> None:
        """Mask `value` from now on (a resolved secret or a derived value marked secret)."""
        if not value:
            return
        with self._lock:
            if value in self._base or value in self._derived:
                return
            self._derived.add(value)
            self._derived_matcher = self._state = None
            if len(self._derived) > MAX_DERIVED:
                self._base |= self._derived
                self._derived = set()
                self._matcher = None

    def fork(self) -> Redactor:
        """An independent copy (later `add`s affect only one side) sharing compiled patterns."""
        copy = Redactor()
        with self._lock:
            if self._matcher is None and self._base:  # compile once, not in every copy
                self._matcher = _Matcher.build(self._base)
            copy._base, copy._derived = set(self._base), set(self._derived)
            copy._matcher, copy._derived_matcher = self._matcher, self._derived_matcher
        return copy

    def redact(self, text: str) -> str:
        """`text` with every form of every secret replaced by MASK."""
        if not text:
            return text
        state = self._state or self._current_state()
        matchers, shortest, needles = state
        if len(text) < shortest:  # every form matches at least len(form) characters
            return text
        if needles is not None:  # every match contains one of them: usually none occurs
            for needle in needles:
                if needle in text:
                    break
            else:
                return text
        while True:
            spans: list[tuple[int, int]] = []
            for matcher in matchers:
                spans += matcher.spans(text)
            if not spans:
                return text
            redacted = _mask_spans(text, spans)
            if redacted is text or not any(m.may_touch_mask for m in matchers):
                return redacted
            text = redacted

    def redact_value(self, value: object, redact: Callable[[str], str] | None = None) -> object:
        """A copy of a JSON-like value with strings (and dict keys) redacted.

        Numbers whose text is a secret become MASK; other scalars are returned unchanged.
        Two keys that redact to the same text collapse into one (the last wins). `redact`
        replaces `self.redact` for the strings (a caller's memo of it).
        """
        return _redact_value(value, redact or self.redact)

    def redact_headers(
        self, headers: Iterable[tuple[str, str]], redact: Callable[[str], str] | None = None
    ) -> tuple[tuple[str, str], ...]:
        """Headers with credential values always masked and every other value redacted.

        Authorization keeps its scheme (`Bearer [REDACTED]`); Cookie and Set-Cookie keep
        cookie names and Set-Cookie attributes, never cookie values. `redact` replaces
        `self.redact` for names and ordinary values (a caller's memo of it).
        """
        redact = redact or self.redact
        redacted: list[tuple[str, str]] = []
        for name, value in headers:
            kind = _credential_kind(name)
            masked = redact(value) if kind is None else self._credential_value(kind, value)
            redacted.append((redact(name), masked))
        return tuple(redacted)

    def _credential_value(self, kind: str, value: str) -> str:
        """The value of an always-masked header (`kind`: its lower-case name)."""
        if not value.strip():
            return self.redact(value)
        if kind == "cookie":
            pairs = (_mask_cookie_pair(pair) for pair in value.split(";") if pair.strip())
            return self.redact("; ".join(pairs))
        if kind == "set-cookie":
            first, sep, attributes = value.partition(";")
            return self.redact(_mask_cookie_pair(first) + sep + attributes)
        scheme, sep, credentials = value.strip().partition(" ")
        if sep and credentials.strip() and _AUTH_SCHEME.fullmatch(scheme):
            return f"{self.redact(scheme)} {MASK}"
        return MASK

    def _current_state(self) -> _State:
        with self._lock:
            if self._matcher is None and self._base:
                self._matcher = _Matcher.build(self._base)
            if self._derived_matcher is None and self._derived:
                self._derived_matcher = _LiteralMatcher.build(self._derived)
            matchers = tuple(m for m in (self._matcher, self._derived_matcher) if m is not None)
            shortest = min((m.shortest for m in matchers), default=_NEVER)
            needles: list[str] | None = []
            for m in matchers:
                found = m.needles()
                needles = None if found is None or needles is None else needles + found
            self._state = (matchers, shortest, tuple(needles) if needles is not None else None)
            return self._state


_State = tuple[tuple["_Matcher | _LiteralMatcher", ...], int, tuple[str, ...] | None]
"""A redactor's matchers, the length of their shortest form, and strings one of which
every match contains (None: no such quick test)."""


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments, traceback, stack and extra fields.

    Attach it to *handlers* (`handler.addFilter(RedactingFilter(redactor))`): handler
    filters see the records of every library's loggers, logger filters only their own.
    The traceback is rendered to text here and `exc_info` dropped, so no formatter can
    print unredacted exception details or locals.
    """

    def __init__(self, redactor: Redactor, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(_message_of(record))
        record.args = None
        if record.exc_info is not None:
            if not record.exc_text:
                record.exc_text = _TRACEBACK_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        for key in record.__dict__.keys() - _STANDARD_RECORD_FIELDS:
            record.__dict__[key] = self.redactor.redact_value(record.__dict__[key])
        return True


_TRACEBACK_FORMATTER = logging.Formatter()

# The service's process-wide redactor: every secret a server or worker resolves joins it,
# and `redact_process_logs` makes every log record of every library pass through it.
PROCESS_REDACTOR = Redactor()


def redact_process_logs(redactor: Redactor = PROCESS_REDACTOR) -> None:
    """Redact every log record of this process as it is created (idempotent).

    A record factory, not a handler filter, so loggers and handlers that libraries set
    up later (uvicorn, DBOS, SQLAlchemy) are covered too.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "reqflo_redacting", False):
        return
    redacting = RedactingFilter(redactor)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redacting.filter(record)
        return record

    factory.reqflo_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_STANDARD_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def _message_of(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # bad %-args: keep the template, drop the arguments
        return f"{record.msg!s} [unformattable log arguments dropped]"


def _redact_value(value: object, redact: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):  # before the Mapping ABC check: the common case, faster
        return {_redact_value(k, redact): _redact_value(v, redact) for k, v in value.items()}
    kind = type(value)
    if kind is int or kind is float:
        text = str(value)
        return MASK if redact(text) != text else value
    if value is None or kind is bool:
        return value
    if isinstance(value, Mapping):
        return {_redact_value(k, redact): _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(item, redact) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact_value(item, redact) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        return MASK if redact(text) != text else value
    return value


@lru_cache(maxsize=512)
def _credential_kind(name: str) -> str | None:
    """The lower-case name of an always-masked header (Authorization, Cookie …), else None."""
    kind = name.strip().lower()
    return kind if kind in ALWAYS_MASKED_HEADERS else None


def _mask_cookie_pair(pair: str) -> str:
    name, sep, _value = pair.strip().partition("=")
    return f"{name}={MASK}" if sep and name else MASK


@dataclass(frozen=True)
class _Matcher:
    """Compiled patterns for one snapshot of the secret set."""

    search: re.Pattern[str]  # any form, longest first
    all_at: re.Pattern[str]  # one optional lookahead group per form: every form matching here
    may_touch_mask: bool  # a match could overlap a MASK's edge, so repeat until stable
    shortest: int  # no text shorter than the shortest form can match
    cores: tuple[str, ...] | None  # every match contains one of these; None: no such filter

    @classmethod
    def build(cls, secrets: Iterable[str]) -> _Matcher:
        parts = {part for secret in secrets for part in _secret_parts(secret)}
        return cls.of_forms({form for part in parts for form in _forms(part)}, parts)

    @classmethod
    def of_forms(cls, forms: Iterable[str], parts: Iterable[str]) -> _Matcher:
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        patterns = list(dict.fromkeys(_text_pattern(form) for form in ordered))
        return cls(
            search=re.compile("|".join(patterns)),
            all_at=re.compile("".join(f"(?:(?=({p}))|)" for p in patterns)),
            may_touch_mask=_may_touch_mask(parts),
            shortest=min((len(form) for form in ordered), default=_NEVER),
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


class _LiteralMatcher:
    """The forms of a few secrets added later, matched without compiling a big pattern.

    A form made only of unreserved characters matches exactly its own text (see
    `_char_pattern`), so it is found with `str.find` at every start. The other forms are
    compiled into one `_Matcher`, lazily: only once a text contains the *core* of one of
    them (its longest run of unreserved characters, which every match must contain
    literally). A form with no such core compiles at once.
    """

    def __init__(self, literals: set[str], others: set[str], parts: set[str]) -> None:
        self.literals = tuple(sorted(literals, key=len))  # shortest first: see `spans`
        self.others = others
        self.cores = tuple({_core(form) for form in others}) if others else ()
        self.may_touch_mask = _may_touch_mask(parts)
        # a match of an escaped form is at least as long as the form (escapes only grow)
        self._shortest_other = min(map(len, others)) if others else _NEVER
        self.shortest = (
            min(len(self.literals[0]), self._shortest_other) if literals else (self._shortest_other)
        )
        self._parts = parts
        self._compiled: _Matcher | None = None
        if "" in self.cores:
            self._compiled = _Matcher.of_forms(others, parts)

    @classmethod
    def build(cls, secrets: Iterable[str]) -> _LiteralMatcher:
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
                    compiled = self._compiled = _Matcher.of_forms(self.others, self._parts)
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


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
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
