"""Ed25519 verification under the protocol's one rule (docs/protocol.md §2, "Readings:
signatures"): RFC 8032 §5.1.7's cofactored equation ``[8][S]B = [8]R + [8][k]A`` with ``S`` < ℓ,
``R`` canonically encoded and not of small order, and ``A`` not of small order.

libsodium's check (through PyNaCl) is the fast path: it is cofactorless and compares ``R`` byte
for byte, and refuses small-order ``R`` and ``A`` and non-canonical ``S``, so whatever it
accepts the rule accepts too. What it refuses gets the cofactored check, from libsodium's group
operations: a signature crafted by a key's own holder with a torsion component in ``R`` passes
there, exactly as it does at a node. The curve arithmetic is libsodium's; nothing here is
constant-time, and nothing needs to be (only public values are involved).
"""

from __future__ import annotations

import functools
import hashlib

import nacl.bindings as sodium
import nacl.exceptions

if not sodium.has_crypto_core_ed25519:  # pragma: no cover - every PyNaCl wheel has it
    raise ImportError(
        "agentmesh needs a libsodium with the crypto_core_ed25519 API (PyNaCl's wheels have it)"
    )

#: 2^255 - 19.
P = 2**255 - 19
#: The order of the prime-order subgroup.
L = 2**252 + 27742317777372353535851937790883648493
#: The encoding of the neutral element.
IDENTITY = b"\x01" + b"\x00" * 31


def canonical_encoding(raw: bytes) -> bool:
    """Whether ``raw`` is the one encoding of its point (if it is one): ``y`` < p, and no sign
    bit on ``x = 0`` (the points ``y = ±1``)."""
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    if y >= P:
        return False
    return not (raw[31] & 0x80 and y in (1, P - 1))


def _add(p: bytes, q: bytes) -> bytes | None:
    try:
        return sodium.crypto_core_ed25519_add(p, q)
    except nacl.exceptions.RuntimeError:
        return None  # not a point on the curve


def times_eight(raw: bytes) -> bytes | None:
    """``[8]P`` of an encoded point, or ``None`` when ``raw`` is not on the curve."""
    point: bytes | None = raw
    for _ in range(3):
        assert point is not None
        point = _add(point, point)
        if point is None:
            return None
    return point


def valid_public_key(raw: bytes) -> bool:
    """A key that may be an ID: 32 bytes, the canonical encoding of a curve point not of small
    order (a weak key's signature verifies for many messages)."""
    if len(raw) != 32 or not canonical_encoding(raw):
        return False
    eight = times_eight(raw)
    return eight is not None and eight != IDENTITY


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Checks ``signature`` by ``public_key`` (already checked by :func:`valid_public_key`) over
    ``message`` under the protocol's rule."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    try:
        sodium.crypto_sign_open(signature + message, public_key)
        return True
    except nacl.exceptions.BadSignatureError:
        pass
    return _verify_cofactored(public_key, message, signature)


def _verify_cofactored(public_key: bytes, message: bytes, signature: bytes) -> bool:
    r_bytes, s_bytes = signature[:32], signature[32:]
    s = int.from_bytes(s_bytes, "little")
    if s >= L or not canonical_encoding(r_bytes):
        return False
    r8 = times_eight(r_bytes)
    if r8 is None or r8 == IDENTITY:
        return False  # R is not a point, or is of small order
    a8 = _times_eight_cached(public_key)
    if a8 is None or a8 == IDENTITY:
        return False
    k = int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % L
    # [8]A and [8]R lie in the prime-order subgroup, where libsodium's scalar multiplication
    # works; [8S mod ℓ]B = [8][S]B since B has order ℓ.
    s8 = (8 * s) % L
    lhs = IDENTITY if s8 == 0 else sodium.crypto_scalarmult_ed25519_base_noclamp(_le(s8))
    k_a8 = IDENTITY if k == 0 else sodium.crypto_scalarmult_ed25519_noclamp(_le(k), a8)
    rhs = _add(k_a8, r8)
    return rhs is not None and lhs == rhs


@functools.lru_cache(maxsize=4096)
def _times_eight_cached(raw: bytes) -> bytes | None:
    return times_eight(raw)


def _le(n: int) -> bytes:
    return n.to_bytes(32, "little")
