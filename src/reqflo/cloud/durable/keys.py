"""The worker's master key and authenticated encryption of checkpoint payloads.

Owns `load_master_key` (32 bytes from `REQFLO_MASTER_KEY`, base64, or from
`<data dir>/master.key`, created with mode 0600 on first use) and `Sealer`, which turns a
JSON value into an opaque token and back: `json.dumps` → AES-256-GCM with a random 96-bit
nonce → `v1:` + base64url(nonce + ciphertext). Nothing is ever pickled; a token that was
tampered with, or sealed with another key, raises `SealError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ENV = "REQFLO_MASTER_KEY"
KEY_FILE = "master.key"
KEY_BYTES = 32
_PREFIX = "v1:"
_NONCE_BYTES = 12
_AAD = b"reqflo-checkpoint-v1"


class SealError(Exception):
    """A sealed value cannot be opened (wrong key, tampering, not a sealed value)."""


def load_master_key(data_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The master key: `REQFLO_MASTER_KEY` if set, else the data dir's key file (created)."""
    environ = os.environ if environ is None else environ
    encoded = environ.get(KEY_ENV, "").strip()
    if encoded:
        return _decode_key(encoded, f"the {KEY_ENV} variable")
    path = data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SealError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return _decode_key(path.read_text().strip(), str(path))


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another worker created it first
    with os.fdopen(fd, "w") as handle:
        handle.write(encoded + "\n")


def _decode_key(encoded: str, where: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealError(f"{where} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise SealError(f"{where} must hold {KEY_BYTES} bytes, base64-encoded")
    return key


class Sealer:
    """JSON value ⇄ AES-256-GCM token."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:  # never show the key
        return "Sealer()"

    def seal(self, value: Any) -> str:
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, _AAD)
        return _PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii")

    def open(self, token: str) -> Any:
        if not token.startswith(_PREFIX):
            raise SealError("not a sealed Reqflo value")
        try:
            sealed = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _AAD)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SealError("sealed value cannot be opened with this key") from exc
        return json.loads(plain.decode("utf-8"))
