"""RFC 9421 HTTP Message Signatures over Ed25519, with an RFC 9530 ``Content-Digest``: the second
signature form of docs/protocol.md §4b (beside the ``X-Agent-*`` handshake), and the Web Bot
Auth profile and key directories of §4c. It follows the node's ``src/httpsig.rs`` byte for byte.

A request signature covers ``("@method" "@authority" "@path" "@query" "content-digest")`` with
``created``, ``keyid`` (the caller's did:key), ``alg="ed25519"``, ``expires``, ``nonce`` and
``tag="agentmesh"``, in that order, under the label ``am``. Through a gateway the caller adds
``am-agent`` over the URL the gateway will call (the card's endpoint joined with the path); the
gateway verifies ``am``, drops it and passes ``am-agent`` on as ``am``, so the agent checks a
signature over the very request it receives. Answers are signed over
``("@status" "content-digest")`` with ``nonce`` = the request's nonce.

Structured Field Values (RFC 9651) are parsed and re-serialized by the ``http-sf`` package;
the signature base, the parameters' order and every check are this module's, as the node
writes them. Most callers need none of it: :func:`agentmesh.sign_request` (``url=``),
:func:`agentmesh.verify_request`, :func:`agentmesh.sign_response`,
:func:`agentmesh.verify_response`, the clients and the ASGI middleware use it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import http_sf

from .encoding import b64url
from .identity import Identity

__all__ = [
    "AGENT_LABEL",
    "DIRECTORY_LABEL",
    "DIRECTORY_MEDIA_TYPE",
    "DIRECTORY_TAG",
    "HEADER_CONTENT_DIGEST",
    "HEADER_SIGNATURE",
    "HEADER_SIGNATURE_AGENT",
    "HEADER_SIGNATURE_INPUT",
    "LABEL",
    "MAX_FIELD_BYTES",
    "REQUEST_COMPONENTS",
    "RESPONSE_COMPONENTS",
    "TAG",
    "VALIDITY_S",
    "WEB_BOT_AUTH_LABEL",
    "WEB_BOT_AUTH_TAG",
    "HttpSigError",
    "Params",
    "Parsed",
    "RequestTarget",
    "Signed",
    "content_digest",
    "content_digest_matches",
    "directory_body",
    "for_agent",
    "jwk_thumbprint",
    "nonce_of",
    "parse",
    "sign",
    "sign_directory",
    "sign_request",
    "sign_response",
    "sign_web_bot_auth",
    "signature_base",
]

#: The label of the signature for the hop a request is sent on.
LABEL = "am"
#: The label of the signature for the agent-side URL, when a request goes through a gateway.
AGENT_LABEL = "am-agent"
#: The ``tag`` of AgentMesh signatures.
TAG = "agentmesh"
#: The ``tag`` of the Web Bot Auth profile.
WEB_BOT_AUTH_TAG = "web-bot-auth"
#: The Web Bot Auth profile's label.
WEB_BOT_AUTH_LABEL = "wba"
#: The tag of a key directory's signature.
DIRECTORY_TAG = "http-message-signatures-directory"
#: The label of a key directory's signature.
DIRECTORY_LABEL = "binding"
#: The media type of a key directory.
DIRECTORY_MEDIA_TYPE = "application/http-message-signatures-directory+json"
#: Header names (as sent; verifiers look them up case-insensitively).
HEADER_SIGNATURE_INPUT = "Signature-Input"
HEADER_SIGNATURE = "Signature"
HEADER_CONTENT_DIGEST = "Content-Digest"
HEADER_SIGNATURE_AGENT = "Signature-Agent"
#: What an AgentMesh request signature covers, in order.
REQUEST_COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
#: What an AgentMesh response signature covers, in order.
RESPONSE_COMPONENTS = ("@status", "content-digest")
#: How long a signature AgentMesh makes stays valid (``expires`` − ``created``), seconds.
VALIDITY_S = 60
#: Most bytes of ``Signature-Input`` or ``Signature`` a verifier parses.
MAX_FIELD_BYTES = 8 * 1024

# A covered header field name, as the node accepts it.
_FIELD_NAME = re.compile(r"[a-z0-9_.-]*")
# An RFC 8941 String: printable ASCII.
_SF_STRING = re.compile(r"[\x20-\x7e]*")

#: Looks a header field up by lowercase name (all its lines joined with ``, ``), or ``None``.
HeaderLookup = Callable[[str], "str | None"]


class HttpSigError(Exception):
    """Why an RFC 9421 signature was refused: ``kind`` is ``missing`` (``header`` names the
    absent field), ``malformed`` or ``stale``."""

    def __init__(self, kind: str, message: str, header: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.header = header

    @classmethod
    def missing(cls, header: str) -> HttpSigError:
        return cls("missing", f"missing header {header}", header)

    @classmethod
    def malformed(cls, message: str) -> HttpSigError:
        return cls("malformed", message)


def content_digest(body: bytes) -> str:
    """``sha-256=:<base64>:`` of ``body`` (RFC 9530)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _parse_dictionary(value: str, what: str) -> dict[str, Any]:
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as e:
        raise HttpSigError.malformed(f"{what}: {e}") from None
    if not isinstance(parsed, dict):  # pragma: no cover - tltype="dictionary"
        raise HttpSigError.malformed(f"{what}: not a dictionary")
    return parsed


def content_digest_matches(value: str, body: bytes) -> bool:
    """Whether a ``Content-Digest`` value carries a ``sha-256`` member equal to ``body``'s
    digest, and a ``sha-512`` one (when present) equal too, as the node checks; raises
    :class:`HttpSigError` when it does not parse or has no ``sha-256`` member."""
    members = _parse_dictionary(value, "Content-Digest")
    member = members.get("sha-256")
    if member is None or not isinstance(member[0], bytes):
        raise HttpSigError.malformed("Content-Digest has no sha-256 member")
    other = members.get("sha-512")
    if other is not None and not isinstance(other[0], bytes):
        raise HttpSigError.malformed("Content-Digest: sha-512 is not a byte sequence")
    sha512_ok = other is None or other[0] == hashlib.sha512(body).digest()
    return bool(member[0] == hashlib.sha256(body).digest() and sha512_ok)


@dataclass
class Params:
    """The parameters of one signature. ``expires_first`` writes ``expires`` right after
    ``created`` (the key directory draft's order); otherwise the order is ``created``,
    ``keyid``, ``alg``, ``expires``, ``nonce``, ``tag`` (the Web Bot Auth drafts')."""

    created: int
    keyid: str
    expires: int | None = None
    nonce: str | None = None
    alg: bool = False
    tag: str | None = None
    expires_first: bool = False

    @classmethod
    def agentmesh(cls, identity: Identity, now: int, nonce: str) -> Params:
        """AgentMesh's parameters: ``created`` = now, ``expires`` = now + 60, the nonce, the
        signer's did:key, ``alg="ed25519"``, ``tag="agentmesh"``."""
        return cls(
            created=now,
            keyid=identity.agent_id,
            expires=now + VALIDITY_S,
            nonce=nonce,
            alg=True,
            tag=TAG,
        )


@dataclass(frozen=True)
class RequestTarget:
    """The parts of a request URL a signature covers."""

    #: ``@method``, uppercase.
    method: str
    #: ``@authority``: host and port as sent, lowercase, no default port.
    authority: str
    #: ``@path``, as sent (``/`` when empty).
    path: str
    #: The query without ``?``, as sent (``None`` or empty: ``@query`` is ``?``).
    query: str | None

    @classmethod
    def new(cls, method: str, authority: str, path_and_query: str) -> RequestTarget:
        """``method`` and ``path_and_query`` at ``authority``."""
        path, sep, query = path_and_query.partition("?")
        return cls(
            method=_ascii_upper(method),
            authority=_ascii_lower(authority),
            path=path or "/",
            query=query if sep else None,
        )

    @classmethod
    def of_url(cls, method: str, url: str) -> RequestTarget | None:
        """``method`` on an absolute ``http(s)://`` URL; ``None`` for anything else. The
        authority drops the scheme's default port, as HTTP clients do when they write
        ``Host``."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            return None
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority, rest = rest[:end], rest[end:]
        rest = rest.split("#", 1)[0]
        authority = authority.rsplit("@", 1)[-1]
        scheme = _ascii_lower(scheme)
        if scheme not in ("http", "https"):
            return None
        host, colon, port = authority.rpartition(":")
        if colon and (scheme, port) in (("http", "80"), ("https", "443")):
            authority = host
        if not authority:
            return None
        return cls.new(method, authority, rest)

    def value(self, component: str) -> str | None:
        """The value of derived component ``component`` (``@method``, ``@authority``,
        ``@path``, ``@query``, ``@request-target``), else ``None``."""
        if component == "@method":
            return self.method
        if component == "@authority":
            return self.authority
        if component == "@path":
            return self.path
        if component == "@query":
            return "?" + (self.query or "")
        if component == "@request-target":
            return self.path if self.query is None else f"{self.path}?{self.query}"
        return None


def _ascii_upper(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


@dataclass(frozen=True)
class Signed:
    """One ``Signature-Input`` member and its ``Signature`` member."""

    #: The label.
    label: str
    #: The ``Signature-Input`` member value: ``("@method" …);created=…;…``.
    input: str
    #: The ``Signature`` member value: ``:<base64>:``.
    signature: str
    #: The signature base that was signed (for test vectors and debugging).
    base: str = field(repr=False)

    def input_member(self) -> str:
        """``label=value`` for ``Signature-Input``."""
        return f"{self.label}={self.input}"

    def signature_member(self) -> str:
        """``label=value`` for ``Signature``."""
        return f"{self.label}={self.signature}"


def _sf_string(text: str, what: str) -> str:
    if not _SF_STRING.fullmatch(text):
        raise HttpSigError.malformed(f"{what} is not a printable ASCII string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _split_component(c: str) -> tuple[str, str | None, bool]:
    """``name;key=member`` (a Dictionary header's member, RFC 9421 §2.1.2) and ``name;req``
    (§2.4) as ``(name, member, req)``."""
    name, sep, member = c.partition(";key=")
    if sep:
        return name, member, False
    if c.endswith(";req"):
        return c[: -len(";req")], None, True
    return c, None, False


def _serialize_params(components: Sequence[str], p: Params) -> str:
    """``(components…);params…`` as RFC 8941 serializes it (the ``@signature-params``
    value)."""
    items = []
    for c in components:
        name, member, req = _split_component(c)
        item = _sf_string(name, "a component name")
        if member is not None:
            item += ";key=" + _sf_string(member, "a key")
        elif req:
            item += ";req"
        items.append(item)
    out = "(" + " ".join(items) + f");created={_sf_integer(p.created)}"
    if p.expires is not None and p.expires_first:
        out += f";expires={_sf_integer(p.expires)}"
    out += ";keyid=" + _sf_string(p.keyid, "the keyid")
    if p.alg:
        out += ';alg="ed25519"'
    if p.expires is not None and not p.expires_first:
        out += f";expires={_sf_integer(p.expires)}"
    if p.nonce is not None:
        out += ";nonce=" + _sf_string(p.nonce, "the nonce")
    if p.tag is not None:
        out += ";tag=" + _sf_string(p.tag, "the tag")
    return out


def _sf_integer(n: int) -> str:
    if isinstance(n, bool) or not isinstance(n, int) or abs(n) > 999_999_999_999_999:
        raise HttpSigError.malformed(f"{n!r} is not a structured field integer")
    return str(n)


def signature_base(lines: Sequence[tuple[str, str]], params_value: str) -> str:
    """The signature base of RFC 9421 §2.5: one ``"<component>": <value>`` line per
    component (``name;key=member`` and ``name;req`` as the node writes them), then
    ``"@signature-params": <params>``."""
    out = []
    for name, value in lines:
        if "\n" in value or "\r" in value:
            raise HttpSigError.malformed(f"the value of {name} has a line break")
        bare, member, req = _split_component(name)
        if member is not None:
            out.append(f'"{bare}";key="{member}": {value}\n')
        elif req:
            out.append(f'"{bare}";req: {value}\n')
        else:
            out.append(f'"{bare}": {value}\n')
    out.append(f'"@signature-params": {params_value}')
    return "".join(out)


def sign(
    identity: Identity,
    label: str,
    components: Sequence[str],
    values: Sequence[str],
    params: Params,
) -> Signed:
    """Signs ``components`` with values ``values`` (same order) under ``label``. A component
    ``name;key=member`` covers one member of a Dictionary header
    (``"signature-agent";key="wba"``), ``name;req`` the request's component in a response."""
    if len(components) != len(values):
        raise ValueError("one value per component")
    params_value = _serialize_params(components, params)
    base = signature_base(list(zip(components, values)), params_value)
    sig = identity.sign(base.encode("utf-8"))
    return Signed(
        label=label,
        input=params_value,
        signature=":" + base64.b64encode(sig).decode("ascii") + ":",
        base=base,
    )


def sign_request(
    identity: Identity, label: str, target: RequestTarget, body: bytes, params: Params
) -> Signed:
    """Signs a request for ``target`` with AgentMesh's components and ``params``; ``body``
    gives the ``Content-Digest`` the signature covers (send it as that header)."""
    digest = content_digest(body)
    values = [target.value(c) or digest for c in REQUEST_COMPONENTS]
    return sign(identity, label, REQUEST_COMPONENTS, values, params)


def sign_response(
    identity: Identity, status: int, request_nonce: str, body: bytes, now: int
) -> Signed:
    """Signs an answer with ``status`` and ``body`` to the request whose nonce was
    ``request_nonce``."""
    params = Params.agentmesh(identity, now, request_nonce)
    return sign(
        identity, LABEL, RESPONSE_COMPONENTS, [str(int(status)), content_digest(body)], params
    )


# -- Web Bot Auth and key directories (docs/protocol.md §4c) -------------------------------


def jwk_thumbprint(public_key: bytes) -> str:
    """The RFC 7638 JWK SHA-256 thumbprint (base64url) of an Ed25519 key: the ``keyid`` of the
    Web Bot Auth profile and of key directories."""
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url(public_key) + '"}'
    return b64url(hashlib.sha256(jwk.encode("ascii")).digest())


def directory_body(public_key: bytes) -> str:
    """The key directory of one Ed25519 key, byte for byte as docs/protocol.md §4c fixes it."""
    return (
        '{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"'
        + jwk_thumbprint(public_key)
        + '","x":"'
        + b64url(public_key)
        + '","use":"sig"}]}'
    )


def sign_directory(identity: Identity, authority: str, created: int, expires: int) -> Signed:
    """The signature a key makes over its own directory as served at ``authority`` (the
    directory draft's proof of possession), valid ``created``…``expires``."""
    body = directory_body(identity.public_key)
    params = Params(
        created=created,
        keyid=jwk_thumbprint(identity.public_key),
        expires=expires,
        tag=DIRECTORY_TAG,
        expires_first=True,
    )
    values = [_ascii_lower(authority), content_digest(body.encode("ascii"))]
    return sign(identity, DIRECTORY_LABEL, ("@authority;req", "content-digest"), values, params)


def sign_web_bot_auth(
    identity: Identity,
    target: RequestTarget,
    body: bytes,
    directory: str,
    now: int,
    nonce64: bytes,
) -> tuple[str, Signed]:
    """The Web Bot Auth signature of a request to a website (docs/protocol.md §4c):
    ``directory`` is the signer's key directory URL, ``nonce64`` 64 random bytes. Returns the
    ``Signature-Agent`` header value and the signature (label ``wba``)."""
    if len(nonce64) != 64:
        raise ValueError("the Web Bot Auth nonce is 64 bytes")
    member = _sf_string(directory, "the directory URL") + ";type=jwks_uri"
    agent = f"{WEB_BOT_AUTH_LABEL}={member}"
    params = Params(
        created=now,
        keyid=jwk_thumbprint(identity.public_key),
        expires=now + VALIDITY_S,
        nonce=base64.b64encode(nonce64).decode("ascii"),
        alg=True,
        tag=WEB_BOT_AUTH_TAG,
    )
    digest = content_digest(body)
    components = (*REQUEST_COMPONENTS, f"signature-agent;key={WEB_BOT_AUTH_LABEL}")
    values = [target.value(c) or digest for c in REQUEST_COMPONENTS] + [member]
    return agent, sign(identity, WEB_BOT_AUTH_LABEL, components, values, params)


# -- verifying -------------------------------------------------------------------------------


@dataclass
class Parsed:
    """One signature read off a message, with everything needed to check it."""

    #: Its label.
    label: str
    #: What it covers, in order.
    components: list[str]
    #: Its parameters.
    params: Params
    #: The signature base to verify.
    base: str
    #: The signature.
    signature: bytes
    #: The ``@signature-params`` value (the inner list as RFC 8941 serializes it).
    params_value: str = field(default="", repr=False)
    #: The values of the covered header fields.
    fields: dict[str, str] = field(default_factory=dict, repr=False)

    def base_for(self, derived: Callable[[str], str | None]) -> str:
        """The signature base with the derived components of another request target (the same
        signature checked against another ``@authority``, say)."""
        lines = []
        for name in self.components:
            value = derived(name) if name.startswith("@") else self.fields.get(name)
            if value is None:
                raise HttpSigError.malformed(f"derived component {name} is not supported")
            lines.append((name, value))
        return signature_base(lines, self.params_value)

    def covers(self, required: Sequence[str]) -> bool:
        """Whether it covers every one of ``required``."""
        return all(r in self.components for r in required)

    def check_time(self, now: int, window_s: int) -> None:
        """Refuses (``stale``) a signature created outside ±``window_s`` of ``now``, or
        expired."""
        created = self.params.created
        if abs(created - now) > abs(window_s):
            raise HttpSigError(
                "stale",
                f"created {created} is {created - now} s from this clock; at most ±{window_s} s",
            )
        expires = self.params.expires
        if expires is not None and (expires < now or expires < created):
            raise HttpSigError("stale", f"the signature expired at {expires}")


def _keyid_is_did(entry: tuple[Any, Any]) -> bool:
    value, params = entry
    keyid = params.get("keyid")
    return isinstance(value, list) and isinstance(keyid, str) and keyid.startswith("did:key:")


def _field(header: HeaderLookup, name: str) -> dict[str, Any]:
    value = header(name)
    if value is None:
        raise HttpSigError.missing(name)
    if len(value) > MAX_FIELD_BYTES:
        raise HttpSigError.malformed(f"{name} is over {MAX_FIELD_BYTES} bytes")
    return _parse_dictionary(value, name)


def parse(
    header: HeaderLookup,
    derived: Callable[[str], str | None],
    label: str | None = None,
) -> Parsed:
    """Reads one signature off a message: ``header`` looks header fields up by lowercase name
    (all values joined with ``, ``), ``derived`` gives derived components (``@method``,
    ``@status``, …). ``label`` picks the signature; ``None`` picks AgentMesh's: ``am`` if
    present, else the only one whose ``keyid`` is a did:key and whose label is not
    ``am-agent`` (a stock RFC 9421 signer chooses its own label). Raises
    :class:`HttpSigError`."""
    inputs = _field(header, "signature-input")
    signatures = _field(header, "signature")
    if label is None:
        if LABEL in inputs:
            label = LABEL
        else:
            ours = [k for k, e in inputs.items() if k != AGENT_LABEL and _keyid_is_did(e)]
            if not ours:
                raise HttpSigError.malformed("no signature in Signature-Input has a did:key keyid")
            if len(ours) > 1:
                raise HttpSigError.malformed(
                    "several signatures have a did:key keyid and none is labelled am"
                )
            label = ours[0]
    entry = inputs.get(label)
    if entry is None or not isinstance(entry[0], list):
        raise HttpSigError.malformed(f"Signature-Input has no inner list labelled {label}")
    sig_entry = signatures.get(label)
    if sig_entry is None or not isinstance(sig_entry[0], bytes):
        raise HttpSigError.malformed(f"Signature has no byte sequence labelled {label}")
    inner, raw_params = entry
    components: list[str] = []
    lines: list[tuple[str, str]] = []
    fields: dict[str, str] = {}
    for name, item_params in inner:
        if not isinstance(name, str):
            raise HttpSigError.malformed("a covered component is not a string")
        if item_params:
            raise HttpSigError.malformed(f"component parameters ({name};…) are not supported")
        if name in components:
            raise HttpSigError.malformed(f"{name} is covered twice")
        if name.startswith("@"):
            value = derived(name)
            if value is None:
                raise HttpSigError.malformed(f"derived component {name} is not supported")
        elif _FIELD_NAME.fullmatch(name):
            found = header(name)
            if found is None:
                raise HttpSigError.malformed(f"covered header {name} is absent")
            value = found.strip(" \t")
            fields[name] = value
        else:
            raise HttpSigError.malformed(f"{name!r} is not a lowercase header name")
        components.append(name)
        lines.append((name, value))
    params = _read_params(raw_params)
    serialized = _serialize_inner_list(components, raw_params) or http_sf.ser([entry])
    return Parsed(
        label=label,
        components=components,
        params=params,
        base=signature_base(lines, serialized),
        signature=sig_entry[0],
        params_value=serialized,
        fields=fields,
    )


def _serialize_inner_list(components: list[str], params: dict[str, Any]) -> str | None:
    """RFC 8941's serialization of an inner list of bare Strings whose parameters are
    Integers, Strings and Booleans (what signers write), as ``http_sf.ser`` writes it but
    faster; ``None`` for anything else (left to ``http_sf``)."""
    out = ["(", " ".join(_quote(c) for c in components), ")"]
    for k, v in params.items():
        if v is True:
            out.append(f";{k}")
        elif v is False:
            out.append(f";{k}=?0")
        elif type(v) is int:
            out.append(f";{k}={v}")
        elif type(v) is str:
            out.append(f";{k}={_quote(v)}")
        else:
            return None
    return "".join(out)


def _quote(text: str) -> str:
    # A parsed String holds printable ASCII only.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_params(raw: dict[str, Any]) -> Params:
    created: int | None = None
    keyid = ""
    p = Params(created=0, keyid="")
    for k, v in raw.items():
        is_int = isinstance(v, int) and not isinstance(v, bool)
        is_str = isinstance(v, str)  # Tokens and Display Strings are not str
        if k == "created" and is_int:
            created = v
        elif k == "expires" and is_int:
            p.expires = v
        elif k == "nonce" and is_str:
            p.nonce = v
        elif k == "keyid" and is_str:
            keyid = v
        elif k == "alg":
            if not (is_str and v == "ed25519"):
                raise HttpSigError.malformed('alg must be "ed25519"')
            p.alg = True
        elif k == "tag" and is_str:
            p.tag = v
        elif k in ("created", "expires", "nonce", "keyid", "tag"):
            raise HttpSigError.malformed(f"the {k} parameter has the wrong type")
    if created is None:
        raise HttpSigError.malformed("the signature has no created parameter")
    if not keyid:
        raise HttpSigError.malformed("the signature has no keyid parameter")
    p.created = created
    p.keyid = keyid
    return p


def nonce_of(header: HeaderLookup) -> str | None:
    """The ``nonce`` of the request signature :func:`parse` would read, if any (to sign the
    answer to a request that was refused before it was verified)."""
    value = header("signature-input")
    if value is None:
        return None
    try:
        inputs = _parse_dictionary(value, "Signature-Input")
    except HttpSigError:
        return None
    entry = inputs.get(LABEL)
    if entry is None:
        ours = [e for k, e in inputs.items() if k != AGENT_LABEL]
        if len(ours) != 1:
            return None
        entry = ours[0]
    if not isinstance(entry[0], list):
        return None
    nonce = entry[1].get("nonce")
    return nonce if isinstance(nonce, str) else None


def for_agent(header: HeaderLookup) -> tuple[str, str] | None:
    """The ``Signature-Input`` and ``Signature`` a gateway forwards to the agent: the
    ``am-agent`` signature, relabelled ``am``; ``None`` when there is none."""
    input_value, signature_value = header("signature-input"), header("signature")
    if input_value is None or signature_value is None:
        return None
    try:
        inputs = _parse_dictionary(input_value, "Signature-Input")
        signatures = _parse_dictionary(signature_value, "Signature")
    except HttpSigError:
        return None
    entry, sig = inputs.get(AGENT_LABEL), signatures.get(AGENT_LABEL)
    if entry is None or sig is None:
        return None
    return http_sf.ser({LABEL: entry}), http_sf.ser({LABEL: sig})
