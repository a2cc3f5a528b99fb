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

The forms of a secret, their patterns and the matchers are `reqflo.secrets.matching`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from reqflo.secrets.matching import MASK, NEVER, LiteralMatcher, Matcher, mask_spans

__all__ = [
    "ALWAYS_MASKED_HEADERS", "MASK", "MAX_DERIVED", "PROCESS_REDACTOR",
    "RedactingFilter", "Redactor", "redact_process_logs",
]  # fmt: skip
MAX_DERIVED = 16  # secrets added after construction before the groups are folded into one
ALWAYS_MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

_AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*")


class Redactor:
    """Masks a growing set of secret values in text, JSON values, headers and logs.

    Thread-safe: `add` may be called while other threads redact.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._base: set[str] = {s for s in secrets if s}  # matched by `_matcher`
        self._derived: set[str] = set()  # added later, matched by `_derived_matcher`
        self._matcher: Matcher | None = None
        self._derived_matcher: LiteralMatcher | None = None
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
                self._matcher = Matcher.build(self._base)
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
            redacted = mask_spans(text, spans)
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
                self._matcher = Matcher.build(self._base)
            if self._derived_matcher is None and self._derived:
                self._derived_matcher = LiteralMatcher.build(self._derived)
            matchers = tuple(m for m in (self._matcher, self._derived_matcher) if m is not None)
            shortest = min((m.shortest for m in matchers), default=NEVER)
            needles: list[str] | None = []
            for m in matchers:
                found = m.needles()
                needles = None if found is None or needles is None else needles + found
            self._state = (matchers, shortest, tuple(needles) if needles is not None else None)
            return self._state


_State = tuple[tuple["Matcher | LiteralMatcher", ...], int, tuple[str, ...] | None]
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
