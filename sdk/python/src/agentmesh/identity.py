"""Identities: Ed25519 keys, their did:key IDs, and the CLI's key files.

An ID is ``did:key:z`` + base58btc(``0xed 0x01`` ‖ public key) (docs/protocol.md §2): the ID *is*
the public key, so any signature is checked without a lookup.

Key files are the CLI's file store: ``<home>/keys/<name>.key`` holding the 32-byte RFC 8032
secret (seed) as base64url without padding and a newline; a 0600 file in a 0700 folder, written
to a temporary file, fsynced and renamed so a crash never leaves half a key. A key file that
other users can read is refused, as the CLI refuses it. Keys the CLI keeps in the OS keyring
(its default where a keyring answers) are not readable here: create keys for the SDK with
``AGENTMESH_KEYSTORE=file agentmesh keygen`` or :meth:`Identity.save`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

import nacl.signing

from . import _ed25519
from .encoding import b58decode, b58encode, b64url, b64url_decode
from .errors import (
    BadKeyNameError,
    CorruptKeyError,
    InvalidAgentIdError,
    KeyExistsError,
    KeyNotFoundError,
    KeyPermissionError,
)

__all__ = [
    "DID_KEY_PREFIX",
    "Identity",
    "agent_id_from_public_key",
    "default_home",
    "is_agent_id",
    "keys_dir",
    "public_key_from_agent_id",
    "verify_signature",
]

#: Every Ed25519 did:key starts with this.
DID_KEY_PREFIX = "did:key:z6Mk"
_MULTICODEC_ED25519 = b"\xed\x01"
_KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

StrPath = str | os.PathLike[str]


def agent_id_from_public_key(public_key: bytes) -> str:
    """The did:key of a 32-byte Ed25519 public key (its bytes are not checked: see
    :func:`public_key_from_agent_id` for that)."""
    if len(public_key) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(public_key)}")
    return "did:key:z" + b58encode(_MULTICODEC_ED25519 + public_key)


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:80] + "…"


@functools.lru_cache(maxsize=65536)
def public_key_from_agent_id(agent_id: str) -> bytes:
    """The 32-byte public key of an Ed25519 did:key, checking every part of its form as the
    node does: only the canonical base58 spelling of a canonical point encoding not of small
    order is an ID. Raises :class:`InvalidAgentIdError` (the node's ``invalid_id``)."""
    if not isinstance(agent_id, str) or not agent_id.startswith("did:key:z"):
        raise InvalidAgentIdError(
            f"`{_short(str(agent_id))}` is not a did:key (expected `did:key:z6Mk…`)"
        )
    multibase = agent_id[len("did:key:z") :]
    # 34 bytes encode to at most 47 base58 characters; refuse long junk before decoding it.
    if len(multibase) > 60:
        raise InvalidAgentIdError(f"`{_short(agent_id)}` is not an Ed25519 did:key")
    try:
        raw = b58decode(multibase)
    except ValueError:
        raise InvalidAgentIdError(f"`{_short(agent_id)}` is not valid base58btc") from None
    # 34 bytes starting 0xed: base58 spells them one way only, so this is the canonical ID.
    if len(raw) != 34 or raw[:2] != _MULTICODEC_ED25519:
        raise InvalidAgentIdError(f"`{_short(agent_id)}` is not an Ed25519 did:key")
    key = raw[2:]
    if not _ed25519.valid_public_key(key):
        raise InvalidAgentIdError(
            f"`{_short(agent_id)}` is not an Ed25519 did:key (not a canonical point, or a weak key)"
        )
    return key


def is_agent_id(text: str) -> bool:
    """Whether ``text`` is a valid Ed25519 did:key."""
    try:
        public_key_from_agent_id(text)
    except InvalidAgentIdError:
        return False
    return True


def verify_signature(agent_id: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 raw bytes) is ``agent_id``'s over ``message``, under the
    protocol's verification rule. Raises :class:`InvalidAgentIdError` for a bad ID."""
    return _ed25519.verify(public_key_from_agent_id(agent_id), message, signature)


def default_home() -> Path | None:
    """``AGENTMESH_HOME`` when set (and not empty), else ``None`` (the platform's folders)."""
    home = os.environ.get("AGENTMESH_HOME")
    return Path(home) if home else None


def keys_dir(home: StrPath | None = None) -> Path:
    """The folder of the CLI's key files, resolved as the CLI resolves it.

    ``<home>/keys`` for an explicit ``home`` or ``AGENTMESH_HOME``; otherwise the platform data
    folder of the ``directories`` crate: ``$XDG_DATA_HOME/agentmesh/keys`` (default
    ``~/.local/share/agentmesh/keys``) on Linux and other Unix, ``~/Library/Application
    Support/agentmesh/keys`` on macOS, ``%APPDATA%\\agentmesh\\data\\keys`` on Windows.
    """
    base = Path(home) if home is not None else default_home()
    if base is not None:
        return base / "keys"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "agentmesh" / "keys"
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "agentmesh" / "data" / "keys"
    xdg = os.environ.get("XDG_DATA_HOME")
    data = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return data / "agentmesh" / "keys"


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _KEY_NAME.fullmatch(name) or name.startswith("."):
        raise BadKeyNameError(str(name))


class Identity:
    """An Ed25519 key pair and its did:key.

    >>> me = Identity.generate()
    >>> me.agent_id.startswith("did:key:z6Mk")
    True
    """

    __slots__ = ("_key", "_agent_id")

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        self._key = signing_key
        self._agent_id = agent_id_from_public_key(bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> Identity:
        """A fresh key from the OS random source."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """The key whose RFC 8032 secret (seed) is these 32 bytes."""
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(nacl.signing.SigningKey(bytes(seed)))

    @classmethod
    def load(cls, name: str = "default", home: StrPath | None = None) -> Identity:
        """Reads the CLI's key file ``<keys dir>/<name>.key`` (see :func:`keys_dir`).

        Raises :class:`~agentmesh.errors.KeyNotFoundError`,
        :class:`~agentmesh.errors.KeyPermissionError` (a file others can read),
        :class:`~agentmesh.errors.CorruptKeyError` or
        :class:`~agentmesh.errors.BadKeyNameError`.
        """
        _check_name(name)
        path = keys_dir(home) / f"{name}.key"
        try:
            with open(path, "rb") as f:
                data = f.read(4096)
                mode = os.fstat(f.fileno()).st_mode
        except FileNotFoundError:
            raise KeyNotFoundError(name, path) from None
        if os.name == "posix" and mode & 0o077:
            raise KeyPermissionError(path, mode & 0o777)
        try:
            seed = b64url_decode(data.decode("utf-8").strip())
        except (UnicodeDecodeError, ValueError):
            raise CorruptKeyError(path) from None
        if len(seed) != 32:
            raise CorruptKeyError(path)
        return cls.from_seed(seed)

    def save(
        self, name: str = "default", home: StrPath | None = None, *, overwrite: bool = False
    ) -> Path:
        """Writes this key as the CLI's key file ``<keys dir>/<name>.key`` and returns its path:
        a 0600 file in a 0700 folder, written to a temporary file, fsynced and renamed.

        Refuses to replace an existing key unless ``overwrite`` (raises
        :class:`~agentmesh.errors.KeyExistsError`).
        """
        _check_name(name)
        folder = keys_dir(home)
        path = folder / f"{name}.key"
        if not overwrite and path.exists():
            raise KeyExistsError(name, path)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = folder / f"{name}.key.tmp{os.getpid()}"
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write((b64url(bytes(self._key)) + "\n").encode("ascii"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
        if os.name == "posix":
            # Make the rename itself durable.
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return path

    @property
    def agent_id(self) -> str:
        """The did:key of this identity."""
        return self._agent_id

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key."""
        return bytes(self._key.verify_key)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature (RFC 8032) of ``data``."""
        return bytes(self._key.sign(bytes(data)).signature)

    def sign_b64(self, data: bytes) -> str:
        """:meth:`sign`, as base64url without padding (the protocol's spelling)."""
        return b64url(self.sign(data))

    def __repr__(self) -> str:
        # Never show the secret half.
        return f"Identity({self._agent_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._agent_id == self._agent_id

    def __hash__(self) -> int:
        return hash(self._agent_id)
