"""Exceptions. Every one derives from :class:`AgentMeshError`; those that mirror a node answer
carry its error code (docs/protocol.md §6) in ``.code``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class AgentMeshError(Exception):
    """Base class of every error this SDK raises."""

    #: The docs/protocol.md §6 error code this error corresponds to.
    code: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidAgentIdError(AgentMeshError, ValueError):
    """A string is not an Ed25519 did:key (the node answers these with 400 ``invalid_id``)."""

    code = "invalid_id"


class HandshakeError(AgentMeshError):
    """A signed request or response was refused (docs/protocol.md §4).

    ``code`` is the node's code: ``missing_header``, ``bad_signature``, ``wrong_target``,
    ``stale_timestamp`` or ``replayed_nonce``; ``status`` is always 401.
    """

    status = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CardError(AgentMeshError, ValueError):
    """A card (signed manifest) breaks a rule of docs/protocol.md §3.

    ``code`` is ``invalid_field`` (``field`` names it as a JSON path, ``skills[3].id``),
    ``invalid_id``, ``bad_signature``, ``invalid_json`` or ``too_large``.
    """

    def __init__(self, field: str, reason: str, *, code: str = "invalid_field") -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.code = code


class NodeError(AgentMeshError):
    """A node answered an API call with an error (``{"error": {"code", "message"}}``)."""

    def __init__(self, status: int, code: str, message: str, *, body: Any = None) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.node_message = message
        self.body = body


class ResponseTooLargeError(AgentMeshError):
    """An answer read from the network was over the configured cap."""

    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the answer is over {limit} bytes (raise max_response_bytes to accept it)"
        )
        self.limit = limit


class KeyStoreError(AgentMeshError):
    """A key file could not be read or written."""


class KeyNotFoundError(KeyStoreError, FileNotFoundError):
    """No key file of that name."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(
            f"no key named `{name}` at {path}; create it with `agentmesh keygen --name {name}` "
            "(with AGENTMESH_KEYSTORE=file: keys kept in the OS keyring cannot be read here) "
            "or Identity.generate().save()"
        )
        self.name = name
        self.path = path


class KeyExistsError(KeyStoreError, FileExistsError):
    """``save()`` would replace an existing key."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(
            f"a key named `{name}` already exists at {path}; pass overwrite=True to replace it "
            "(the old identity is lost)"
        )
        self.name = name
        self.path = path


class KeyPermissionError(KeyStoreError, PermissionError):
    """A key file other users can read is refused, as the CLI (and ssh) refuse it."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(
            f"key file {path} is readable by other users (mode {mode:o}); run `chmod 600` on it"
        )
        self.path = path
        self.mode = mode


class CorruptKeyError(KeyStoreError, ValueError):
    """A key file does not hold a 32-byte base64url secret."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"the key file {path} is corrupt (not a 32-byte base64url secret)")
        self.path = path


class BadKeyNameError(KeyStoreError, ValueError):
    """Key names become file names: 1–64 of A–Z a–z 0–9 . _ -, not starting with ``.``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"invalid key name `{name}`: use 1–64 of A–Z a–z 0–9 . _ -, not starting with `.`"
        )
        self.name = name
