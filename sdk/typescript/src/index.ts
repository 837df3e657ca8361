/**
 * `@agentmesh/sdk`: identities, signed cards, discovery and signed invocation for AgentMesh
 * (docs/protocol.md), for Node.js ≥ 20 and any runtime with `fetch` and WebCrypto.
 * @module
 */

export { VERSION } from './version.js';
export {
  AgentMeshError,
  BodyTooLargeError,
  CardError,
  HandshakeError,
  InvalidIdError,
  KeyStoreError,
  NodeError,
  ResponseSignatureError,
  TransportError,
  type HandshakeErrorCode,
  type KeyStoreErrorCode,
  type NodeErrorCode,
  type TransportErrorCode,
} from './errors.js';
export {
  Identity,
  DID_KEY_PREFIX,
  didFromPublicKey,
  isAgentId,
  keysDir,
  publicKeyFromDid,
  shortId,
  type KeyFileOptions,
} from './identity.js';
export {
  CARD_SCHEMA,
  CARD_SIGNING_PREFIX,
  MAX_ENVELOPE_BYTES,
  buildManifest,
  cardSigningBytes,
  jcs,
  signCard,
  verifyCard,
  type CardFields,
  type Envelope,
  type JsonObject,
  type JsonValue,
  type Manifest,
  type Skill,
} from './card.js';
export {
  DEFAULT_CLOCK_SKEW_S,
  DEFAULT_NONCE_CAPACITY,
  H_AGENT_ID,
  H_NONCE,
  H_SIGNATURE,
  H_TARGET,
  H_TIMESTAMP,
  NonceCache,
  SIGNED_REQUEST_HEADERS,
  defaultNonceCache,
  headerLookup,
  requestSigningString,
  responseIsSigned,
  responseSigningString,
  signHttpRequest,
  signRequest,
  signResponse,
  signResponseBoth,
  signResponseRfc9421,
  verifyRequest,
  verifyResponse,
  verifySignedRequest,
  type HeadersLike,
  type NonceCacheOptions,
  type Rfc9421ResponseHeaders,
  type SignForms,
  type SignHttpRequestInput,
  type SignRequestInput,
  type SignResponseInput,
  type SignatureForm,
  type SignedHttpRequestHeaders,
  type SignedRequestHeaders,
  type SignedResponseHeaders,
  type VerifiedRequest,
  type VerifyRequestInput,
  type VerifyResponseInput,
} from './handshake.js';
export {
  H_CONTENT_DIGEST,
  H_HTTP_SIGNATURE,
  H_SIGNATURE_AGENT,
  H_SIGNATURE_INPUT,
  HttpSigError,
  RequestTarget,
  contentDigest,
  contentDigestMatches,
  directoryBody,
  directoryUrl,
  jwkThumbprint,
  nonceOf,
  normalizeAuthority,
  parseSignature,
  signDirectory,
  signWebBotAuth,
  type Signed,
  type SignatureParams,
} from './httpsig.js';
/** The RFC 9421 layer (docs/protocol.md §4b, §4c): signature bases, parsing, Web Bot Auth, key directories. */
export * as httpsig from './httpsig.js';
export { DEFAULT_MAX_BODY_BYTES } from './body.js';
export {
  errorResponse,
  signFetchResponse,
  stripBasePath,
  verifyFetchRequest,
  withAgentMesh,
  type AgentHandler,
  type VerifiedFetchRequest,
  type VerifyFetchOptions,
} from './fetch.js';
export {
  expressMiddleware,
  type AgentMeshRequestContext,
  type AgentRequestLike,
  type AgentResponseLike,
  type ExpressMiddlewareOptions,
} from './express.js';
export {
  InvokeResponse,
  NodeClient,
  joinEndpoint,
  type DiscoverHit,
  type DiscoverOptions,
  type DiscoverResult,
  type ErrorBody,
  type InvokeOptions,
  type NodeClientOptions,
  type Registration,
} from './client.js';
export { b64url, b64urlDecode, formatRfc3339, nowUnix, parseRfc3339, sha256Hex } from './encoding.js';
