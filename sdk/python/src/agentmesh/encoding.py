"""The small encodings of docs/protocol.md §1: base64url without padding, lowercase hex SHA-256,
RFC 3339 UTC whole-second times in cards, unix seconds in headers; and base58btc for did:key."""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import re
import time

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decodes base64url without padding, strictly (as the node does): padding, the standard
    alphabet, whitespace and non-zero trailing bits are refused with ``ValueError``."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as e:
        raise ValueError("not base64url without padding") from e
    if b64url(data) != text:
        # Non-zero trailing bits: another spelling of the same bytes.
        raise ValueError("not the canonical base64url of its bytes")
    return data


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def now_unix() -> int:
    """Seconds since the unix epoch, now."""
    return int(time.time())


def format_rfc3339(unix: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of unix seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def parse_rfc3339(text: str) -> int | None:
    """Unix seconds of a card time (RFC 3339, UTC ``Z``, whole seconds), else ``None``.

    As the node reads them: years 1970–9999, a leap second ``:60`` read as ``:59``."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    if year < 1970 or not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 60:
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))


def b58encode(data: bytes) -> str:
    """base58btc (Bitcoin alphabet)."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decodes base58btc; ``ValueError`` on a character outside the alphabet."""
    n = 0
    for c in text:
        i = _B58_INDEX.get(c)
        if i is None:
            raise ValueError(f"{c!r} is not a base58btc character")
        n = n * 58 + i
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def join_endpoint(base: str, path: str) -> str:
    """The URL of ``path`` (starting with ``/``, query included) at an agent whose endpoint is
    ``base``, joined as the node's gateway and ``agentmesh connect`` join it (docs/protocol.md §7):
    the bare path ``/`` is the endpoint itself; any other path is appended."""
    rest = path[1:]
    if rest == "" or rest.startswith("?"):
        return base + rest
    return base.rstrip("/") + path
