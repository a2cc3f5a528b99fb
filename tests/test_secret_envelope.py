"""Envelope encryption of cloud secrets: round trip, identity binding, wrong keys, rewrap."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from reqflo.secrets.envelope import (
    EnvelopeError,
    Sealed,
    SecretIdentity,
    key_id,
    rewrap,
    seal,
    unseal,
)

KEY = os.urandom(32)
IDENTITY = SecretIdentity("staging", "API_TOKEN", 3)


def test_a_sealed_value_opens_with_its_key_and_identity() -> None:
    sealed = seal(KEY, IDENTITY, "s3cret-välue\nline two")
    assert unseal(KEY, IDENTITY, sealed) == "s3cret-välue\nline two"
    assert b"s3cret" not in sealed.ciphertext + sealed.wrapped_key
    assert sealed.key_id == key_id(KEY) and "s3cret" not in repr(sealed)


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    first, second = seal(KEY, IDENTITY, "same"), seal(KEY, IDENTITY, "same")
    assert first.ciphertext != second.ciphertext and first.wrapped_key != second.wrapped_key


@pytest.mark.parametrize(
    "moved",
    [
        SecretIdentity("production", "API_TOKEN", 3),
        SecretIdentity("staging", "OTHER", 3),
        SecretIdentity("staging", "API_TOKEN", 2),
        SecretIdentity("*", "API_TOKEN", 3),
    ],
)
def test_a_ciphertext_moved_to_another_identity_fails(moved: SecretIdentity) -> None:
    sealed = seal(KEY, IDENTITY, "value")
    with pytest.raises(EnvelopeError):
        unseal(KEY, moved, sealed)


def test_a_value_ciphertext_moved_under_another_wrapped_key_fails() -> None:
    victim = seal(KEY, SecretIdentity("production", "API_TOKEN", 1), "prod-value")
    attacker = seal(KEY, SecretIdentity("staging", "API_TOKEN", 1), "staging-value")
    spliced = replace(attacker, ciphertext=victim.ciphertext)
    with pytest.raises(EnvelopeError):
        unseal(KEY, SecretIdentity("staging", "API_TOKEN", 1), spliced)


def test_a_wrong_master_key_or_tampering_fails() -> None:
    sealed = seal(KEY, IDENTITY, "value")
    with pytest.raises(EnvelopeError):
        unseal(os.urandom(32), IDENTITY, sealed)
    flipped = bytearray(sealed.ciphertext)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(EnvelopeError):
        unseal(KEY, IDENTITY, Sealed(bytes(flipped), sealed.wrapped_key, sealed.key_id))
    with pytest.raises(EnvelopeError):
        unseal(b"short", IDENTITY, sealed)


def test_rewrap_changes_the_master_key_but_not_the_value_ciphertext() -> None:
    new_key = os.urandom(32)
    sealed = seal(KEY, IDENTITY, "value")
    rewrapped = Sealed(sealed.ciphertext, rewrap(KEY, new_key, IDENTITY, sealed.wrapped_key),
                       key_id(new_key))  # fmt: skip
    assert unseal(new_key, IDENTITY, rewrapped) == "value"
    with pytest.raises(EnvelopeError):
        unseal(KEY, IDENTITY, rewrapped)
    with pytest.raises(EnvelopeError):
        rewrap(os.urandom(32), new_key, IDENTITY, sealed.wrapped_key)
