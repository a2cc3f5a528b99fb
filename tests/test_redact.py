"""Redaction masks every encoded form of every secret, checked by the independent leak scanner."""

from __future__ import annotations

import base64
import io
import json
import logging
import string
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from leakscan import find_leaks, leak_forms
from reqflo.secrets import MASK, RedactingFilter, Redactor

CANARY = 'c4n4ry "p@ss/wörd" + <&> 😀 end'

printable_secrets = st.text(alphabet=string.printable, min_size=6, max_size=64)
unicode_secrets = st.text(min_size=6, max_size=64)
multiline_secrets = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + " +/=-_:", min_size=1, max_size=20),
    min_size=2,
    max_size=5,
).map("\n".join)
any_secret = st.one_of(printable_secrets, unicode_secrets, multiline_secrets)
surroundings = st.text(max_size=30)


def document_with_every_form(secret: str, filler: str, blob_bytes: bytes) -> str:
    """Text that carries the secret in every leak form, embedded in other data."""
    data = secret.encode()
    embedded = [
        base64.b64encode(b"user:" + data).decode(),  # Basic auth
        base64.b64encode(blob_bytes + data + blob_bytes).decode(),
        base64.urlsafe_b64encode(blob_bytes[:1] + data).decode().rstrip("="),
        base64.b64encode(blob_bytes[:2] + data + b"!").decode(),
        json.dumps({"token": secret, "nested": [secret]}),
        "https://api.test/x?" + urlencode({"key": secret, "q": filler}),
        "https://api.test/" + quote(secret) + "/items",
        (b"\x00" + data).hex(),
    ]
    return filler.join([filler, *leak_forms(secret).values(), *embedded, filler])


def test_find_leaks_flags_every_unredacted_form() -> None:
    forms = leak_forms(CANARY)
    assert {"raw", "json-ascii", "url-plus-lowerhex", "html", "hex", "base64url-align2"} <= set(
        forms
    )
    for name, form in forms.items():
        leaks = find_leaks(f"before {form} after", [CANARY])
        assert any(f"as {name} " in leak for leak in leaks), name


def test_find_leaks_flags_a_secret_inside_basic_auth_and_multiline_lines() -> None:
    basic = base64.b64encode(b"alice:" + CANARY.encode()).decode()
    assert find_leaks(f"Authorization: Basic {basic}", [CANARY])
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----"
    assert find_leaks("log: MIIEvQIBADANBgkqhkiG9w0BAQEF", [key])
    assert find_leaks("nothing to see here", [CANARY]) == []


def test_redacts_every_form_of_a_fixed_canary() -> None:
    document = document_with_every_form(CANARY, " | ", b"\x01\x02\x03")
    assert find_leaks(document, [CANARY])
    redacted = Redactor([CANARY]).redact(document)
    assert find_leaks(redacted, [CANARY]) == []
    assert MASK in redacted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=any_secret, filler=surroundings, blob=st.binary(min_size=3, max_size=3))
def test_no_form_of_a_random_secret_survives_redaction(
    secret: str, filler: str, blob: bytes
) -> None:
    assume(not any(form in MASK for form in leak_forms(secret).values()))
    document = document_with_every_form(secret, filler, blob)
    redacted = Redactor([secret]).redact(document)
    assert find_leaks(redacted, [secret]) == []


@settings(max_examples=100, deadline=None)
@given(
    secrets=st.lists(st.text(alphabet="ab[]RED:/ ", min_size=1, max_size=8), max_size=3),
    text=st.text(alphabet="ab[]REDACT:/ x", max_size=60),
)
def test_redaction_is_idempotent_even_for_secrets_that_look_like_the_mask(
    secrets: list[str], text: str
) -> None:
    redactor = Redactor(secrets)
    once = redactor.redact(text)
    assert redactor.redact(once) == once


def test_mask_and_text_without_secrets_pass_unchanged() -> None:
    assert Redactor([]).redact(f"a {MASK} b") == f"a {MASK} b"
    assert Redactor(["RED"]).redact(f"RED {MASK}") == f"{MASK} {MASK}"
    assert Redactor(["D]xy"]).redact(f"a{MASK}xyz") == f"a{MASK}z"


def test_a_secret_formed_by_text_next_to_a_new_mask_is_masked_too() -> None:
    # masking SECRET-2 leaves "zz[REDACTED]", which contains the other secret "zz[RED"
    redactor = Redactor(["zz[RED", "SECRET-2"])
    assert redactor.redact("x zzSECRET-2") == f"x {MASK}"


def test_overlapping_secrets_are_masked_together() -> None:
    redactor = Redactor(["abcdef", "defghi"])
    assert redactor.redact("<abcdefghi>") == f"<{MASK}>"


def test_the_longest_form_starting_at_a_position_wins() -> None:
    # "abcd&am" is tried first (longer literal) but "abcd&" HTML-escaped is longer here.
    redactor = Redactor(["abcd&am", "abcd&"])
    assert redactor.redact("<abcd&amp;>") == f"<{MASK}>"


def test_short_secret_is_masked_raw_but_not_as_hex_or_base64() -> None:
    redactor = Redactor(["x9!"])
    assert redactor.redact("pin=x9! and x9%21") == f"pin={MASK} and {MASK}"
    hex_form = b"x9!".hex()
    assert redactor.redact(f"id {hex_form}") == f"id {hex_form}"


def test_values_added_later_are_masked() -> None:
    redactor = Redactor()
    assert redactor.redact("token=tok-12345") == "token=tok-12345"
    redactor.add("tok-12345")
    redactor.add("")
    assert redactor.redact("token=tok-12345") == f"token={MASK}"
    assert "tok-12345" not in repr(redactor)
    assert len(redactor) == 1


def test_redact_value_walks_keys_lists_tuples_and_numbers() -> None:
    redactor = Redactor(["s3cret-key", "424242"])
    value = {
        "s3cret-key": ["a s3cret-key", ("s3cret-key", 1)],
        "n": 424242,
        "ok": [True, None, 1.5],
    }
    assert redactor.redact_value(value) == {
        MASK: [f"a {MASK}", (MASK, 1)],
        "n": MASK,
        "ok": [True, None, 1.5],
    }


def test_credential_headers_are_always_masked() -> None:
    redactor = Redactor(["tok-12345"])
    headers = (
        ("Authorization", "Bearer abc.def.ghi"),
        ("proxy-authorization", "Basic dXNlcjpwYXNz"),
        ("AUTHORIZATION", "opaque-token-without-scheme"),
        ("Cookie", "sid=abc123; theme=dark"),
        ("Set-Cookie", "sid=abc123; Path=/; HttpOnly"),
        ("X-Echo", "value tok-12345"),
        ("Accept", "application/json"),
        ("Authorization", ""),
    )
    assert redactor.redact_headers(headers) == (
        ("Authorization", f"Bearer {MASK}"),
        ("proxy-authorization", f"Basic {MASK}"),
        ("AUTHORIZATION", MASK),
        ("Cookie", f"sid={MASK}; theme={MASK}"),
        ("Set-Cookie", f"sid={MASK}; Path=/; HttpOnly"),
        ("X-Echo", f"value {MASK}"),
        ("Accept", "application/json"),
        ("Authorization", ""),
    )


def test_logging_filter_redacts_messages_arguments_tracebacks_and_extras() -> None:
    secret = "hunter2-canary"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(detail)s"))
    handler.addFilter(RedactingFilter(Redactor([secret])))
    logger = logging.getLogger("reqflo.tests.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login with %s", secret, extra={"detail": {"token": secret}})
        try:
            raise ValueError(f"bad token {json.dumps(secret)}")
        except ValueError:
            logger.exception("failed %r", quote(secret), extra={"detail": "-"})
        logger.error("broken %s %s", secret, extra={"detail": "-"})  # wrong arg count
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert find_leaks(output, [secret]) == []
    assert "ValueError: bad token" in output
    assert output.count(MASK) >= 4
    assert "unformattable log arguments dropped" in output


def test_instance_redactor_forgets_remembered_texts_when_a_secret_is_added() -> None:
    from reqflo.runner.evidence import SharedRedactors

    redactor = SharedRedactors().for_secrets(["run-secret-1"])
    text = "token=tok-derived-42; run=run-secret-1"
    assert redactor.redact(text) == f"token=tok-derived-42; run={MASK}"
    assert redactor.redact(text) == f"token=tok-derived-42; run={MASK}"  # remembered
    headers = (("X-Token", "tok-derived-42"), ("Authorization", "Bearer tok-derived-42"))
    assert redactor.redact_headers(headers)[0] == ("X-Token", "tok-derived-42")
    redactor.add("tok-derived-42")
    assert redactor.redact(text) == f"token={MASK}; run={MASK}"
    assert redactor.redact_headers(headers) == (
        ("X-Token", MASK),
        ("Authorization", f"Bearer {MASK}"),
    )


def test_a_secret_with_a_form_made_only_of_escaped_characters_is_masked() -> None:
    """No literal core to look for first: the pattern itself is searched (no prefilter)."""
    secret = '"/<&>+!'  # every character is escaped by some encoder
    redactor = Redactor([secret])
    text = f"a {json.dumps(secret)} b {quote(secret, safe='')} c {secret} d"
    assert secret not in redactor.redact(text)
    assert redactor.redact(text).count(MASK) == 3
    assert redactor.redact("no secret here") == "no secret here"


def test_redact_value_uses_the_callers_redact_function() -> None:
    redactor = Redactor(["s3cr3t-value"])
    seen: list[str] = []

    def remembering(text: str) -> str:
        seen.append(text)
        return redactor.redact(text)

    value = {"k": ["s3cr3t-value", ("x",)], "n": 12, "b": True, "z": None}
    assert redactor.redact_value(value, remembering) == {
        "k": [MASK, ("x",)],
        "n": 12,
        "b": True,
        "z": None,
    }
    # every key, string and number text went through the caller's function (any order)
    assert sorted(seen) == sorted(["k", "s3cr3t-value", "x", "n", "12", "b", "z"])
