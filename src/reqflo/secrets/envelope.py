"""AES-256-GCM envelope encryption of cloud secret values.

Owns `SecretIdentity` (environment, name, version), `Sealed` (what is stored: the value
encrypted with a fresh 256-bit data key, and that data key wrapped by the master key),
`seal`, `unseal`, `rewrap` (master-key rotation: the data key is re-wrapped, the value's
ciphertext is not touched) and `key_id` (a fingerprint naming which master key wrapped a
data key). Both encryptions bind the identity as associated data, so a ciphertext or a
wrapped key copied to another environment, name or version fails to decrypt. Any failure
(wrong master key, tampering, moved ciphertext) raises `EnvelopeError`, never a value.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_SCHEME = "reqflo-secret-v1"


class EnvelopeError(Exception):
    """A sealed secret cannot be opened (wrong master key, tampered or moved)."""


@dataclass(frozen=True)
class SecretIdentity:
    environment: str
    name: str
    version: int

    def associated_data(self, part: str) -> bytes:
        fields = [_SCHEME, part, self.environment, self.name, self.version]
        return json.dumps(fields, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes  # nonce + AES-GCM(data key, value)
    wrapped_key: bytes  # nonce + AES-GCM(master key, data key)
    key_id: str  # fingerprint of the master key that wrapped the data key

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r})"


def key_id(master_key: bytes) -> str:
    """A short public fingerprint of a master key (not reversible)."""
    return hashlib.sha256(b"reqflo-master-key-id:" + master_key).hexdigest()[:16]


def _check_key(master_key: bytes) -> None:
    if len(master_key) != KEY_BYTES:
        raise EnvelopeError(f"a master key holds {KEY_BYTES} bytes")


def _encrypt(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def _decrypt(key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError(f"the {what} cannot be opened (wrong key, tampered or moved)") from exc


def seal(master_key: bytes, identity: SecretIdentity, value: str) -> Sealed:
    """Encrypt `value` under a fresh data key, wrapped by `master_key`."""
    _check_key(master_key)
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    ciphertext = _encrypt(data_key, value.encode("utf-8"), identity.associated_data("value"))
    wrapped = _encrypt(master_key, data_key, identity.associated_data("key"))
    return Sealed(ciphertext=ciphertext, wrapped_key=wrapped, key_id=key_id(master_key))


def unseal(master_key: bytes, identity: SecretIdentity, sealed: Sealed) -> str:
    """The value; raises EnvelopeError when anything does not match."""
    _check_key(master_key)
    data_key = _decrypt(master_key, sealed.wrapped_key, identity.associated_data("key"), "data key")
    plain = _decrypt(data_key, sealed.ciphertext, identity.associated_data("value"), "value")
    return plain.decode("utf-8")


def rewrap(old_key: bytes, new_key: bytes, identity: SecretIdentity, wrapped_key: bytes) -> bytes:
    """The data key wrapped by `new_key` instead of `old_key` (the value is untouched)."""
    _check_key(new_key)
    aad = identity.associated_data("key")
    return _encrypt(new_key, _decrypt(old_key, wrapped_key, aad, "data key"), aad)


__all__ = ["EnvelopeError", "Sealed", "SecretIdentity", "key_id", "rewrap", "seal", "unseal"]
