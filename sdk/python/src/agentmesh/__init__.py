"""AgentMesh for Python: did:key identities, signed cards, discovery and signed invocation of AI
agents through AgentMesh nodes (docs/protocol.md).

* :class:`Identity` — an Ed25519 key and its did:key; reads and writes the CLI's key files.
* :class:`NodeClient` / :class:`AsyncNodeClient` — register, revoke, get, discover, invoke.
* :func:`sign_request` / :func:`verify_request` / :func:`sign_response` /
  :func:`verify_response` / :class:`NonceCache` — the signed-request handshake, in the
  ``X-Agent-*`` form and the RFC 9421 form (:mod:`agentmesh.httpsig`).
* :mod:`agentmesh.asgi` — :class:`~agentmesh.asgi.AgentMeshMiddleware` for FastAPI/Starlette.
"""

from .card import Card, build_manifest, sign_manifest, validate_manifest
from .client import (
    AgentResponse,
    AsyncNodeClient,
    DiscoveryResult,
    NetworkError,
    NodeClient,
    Registration,
)
from .errors import (
    AgentMeshError,
    BadKeyNameError,
    CardError,
    CorruptKeyError,
    HandshakeError,
    InvalidAgentIdError,
    KeyExistsError,
    KeyNotFoundError,
    KeyPermissionError,
    KeyStoreError,
    NodeError,
    ResponseTooLargeError,
)
from .handshake import (
    NonceCache,
    Verified,
    request_nonce,
    request_signing_string,
    response_signing_string,
    sign_request,
    sign_response,
    verify_request,
    verify_request_nonce,
    verify_response,
)
from .identity import (
    Identity,
    agent_id_from_public_key,
    is_agent_id,
    keys_dir,
    public_key_from_agent_id,
    verify_signature,
)

__version__ = "0.1.0"

__all__ = [
    "AgentMeshError",
    "AgentResponse",
    "AsyncNodeClient",
    "BadKeyNameError",
    "Card",
    "CardError",
    "CorruptKeyError",
    "DiscoveryResult",
    "HandshakeError",
    "Identity",
    "InvalidAgentIdError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyPermissionError",
    "KeyStoreError",
    "NetworkError",
    "NodeClient",
    "NodeError",
    "NonceCache",
    "Registration",
    "ResponseTooLargeError",
    "Verified",
    "__version__",
    "agent_id_from_public_key",
    "build_manifest",
    "is_agent_id",
    "keys_dir",
    "public_key_from_agent_id",
    "request_nonce",
    "request_signing_string",
    "response_signing_string",
    "sign_manifest",
    "sign_request",
    "sign_response",
    "validate_manifest",
    "verify_request",
    "verify_request_nonce",
    "verify_response",
    "verify_signature",
]
