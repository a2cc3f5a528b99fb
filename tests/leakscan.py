"""Leak scanner: the attacker's view of a secret, written independently of the redactor.

`leak_forms(secret)` lists every encoding a careless serialiser could produce and
`find_leaks(text, secrets)` reports each one found in some output. Tests that check
"no secret reaches any output" import it (`from leakscan import find_leaks`: pytest puts
this directory on sys.path because tests/ has no __init__.py).

It derives the base64 chunks empirically (encode with two different fillers around the
secret and keep the characters that agree) rather than with the redactor's bit
arithmetic, so the two cannot share a mistake. Forms:

* raw; JSON-escaped (json.dumps, ensure_ascii True and False, without the quotes);
  URL-encoded (quote with safe "/" and "", quote_plus; upper and lower-case hex);
  HTML-escaped (html.escape with and without quote);
* for secrets of at least 4 chars: UTF-8 hex (lower, upper) and base64 (standard and
  URL-safe, padded and unpadded, and the stable chunk at byte alignments 0, 1, 2);
* for a multi-line secret, all of the above for each stripped line of at least 4 chars.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

MIN_ENCODED = 4
MIN_LINE = 4


def leak_forms(secret: str) -> dict[str, str]:
    """Form name -> the secret in that form (empty forms left out)."""
    forms = _forms_of(secret)
    lines = [line.strip() for line in secret.splitlines()]
    if len(lines) > 1:
        for number, line in enumerate(lines, start=1):
            if len(line) >= MIN_LINE:
                forms.update({f"line{number}/{k}": v for k, v in _forms_of(line).items()})
    return {name: form for name, form in forms.items() if form}


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """A description of every form of every secret present in `text` (empty: no leak)."""
    found: list[str] = []
    for index, secret in enumerate(secrets):
        for name, form in leak_forms(secret).items():
            offset = text.find(form)
            if offset >= 0:
                found.append(f"secret #{index} leaked as {name} at offset {offset}")
    return found


def _forms_of(value: str) -> dict[str, str]:
    forms = {"raw": value, **_json_forms(value), **_url_forms(value), **_html_forms(value)}
    if len(value) >= MIN_ENCODED:
        data = value.encode("utf-8")
        forms["hex"] = data.hex()
        forms["HEX"] = data.hex().upper()
        forms.update(_base64_forms(data))
    return forms


def _json_forms(value: str) -> dict[str, str]:
    return {
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
    }


def _url_forms(value: str) -> dict[str, str]:
    encoders: dict[str, Callable[[str], str]] = {
        "url-path": lambda v: quote(v),
        "url-component": lambda v: quote(v, safe=""),
        "url-plus": lambda v: quote_plus(v),
    }
    forms: dict[str, str] = {}
    for name, encode in encoders.items():
        upper = encode(value)
        forms[name] = upper
        forms[name + "-lowerhex"] = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), upper)
    return forms


def _html_forms(value: str) -> dict[str, str]:
    return {"html": html.escape(value), "html-noquote": html.escape(value, quote=False)}


def _base64_forms(data: bytes) -> dict[str, str]:
    forms: dict[str, str] = {}
    for alphabet, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        whole = encode(data).decode()
        forms[alphabet] = whole
        forms[alphabet + "-nopad"] = whole.rstrip("=")
        for alignment in range(3):
            chunk = _stable_chunk(encode, data, alignment)
            if chunk:
                forms[f"{alphabet}-align{alignment}"] = chunk
    return forms


def _stable_chunk(encode: Callable[[bytes], bytes], data: bytes, alignment: int) -> str:
    """The base64 characters that depend only on `data` when `alignment` bytes precede it."""
    zeros = encode(b"\x00" * alignment + data + b"\x00" * 3).decode()
    ones = encode(b"\xff" * alignment + data + b"\xff" * 3).decode()
    pairs = enumerate(zip(zeros, ones, strict=True))
    agreeing = [i for i, (a, b) in pairs if a == b != "="]  # padding is not data
    if not agreeing:
        return ""
    return zeros[agreeing[0] : agreeing[-1] + 1]
