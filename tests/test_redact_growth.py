"""A redactor grown with add() or fork() masks exactly like one built with every secret."""

import base64
import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reqflo.secrets.redact import MASK, Redactor

PIECES = st.text(alphabet='ab[]RED:/ +=&%é\\"x9-_.~', min_size=1, max_size=10)


def encodings(secret: str) -> list[str]:
    data = secret.encode("utf-8", "surrogatepass")
    return [
        secret, json.dumps(secret), quote(secret), quote(secret, safe=""), data.hex(),
        base64.b64encode(data).decode(), base64.urlsafe_b64encode(b"xy" + data).decode(),
        secret.replace("&", "&amp;"),
    ]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    base=st.lists(PIECES, max_size=3),
    derived=st.lists(PIECES, min_size=1, max_size=4),
    filler=st.text(alphabet="ab[]REDACT:/ x%", max_size=20),
    data=st.data(),
)
def test_added_secrets_mask_like_constructed_ones(
    base: list[str], derived: list[str], filler: str, data: st.DataObject
) -> None:
    pieces = [filler]
    for secret in base + derived:
        pieces += [*encodings(secret), filler]
    text = "|".join(data.draw(st.permutations(pieces)))
    grown, forked = Redactor(base), Redactor(base).fork()
    for secret in derived:
        grown.add(secret)
        forked.add(secret)
    expected = Redactor(base + derived).redact(text)
    assert grown.redact(text) == expected
    assert forked.redact(text) == expected


def test_many_added_secrets_fold_into_one_pattern() -> None:
    redactor = Redactor(["base-secret"])
    tokens = [f"tok-{i:04d}-zz" for i in range(40)]
    for token in tokens:
        redactor.add(token)
    assert redactor.redact(" ".join([*tokens, "base-secret"])) == " ".join([MASK] * 41)
