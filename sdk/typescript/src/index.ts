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
  responseSigningString,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
  type HeadersLike,
  type NonceCacheOptions,
  type SignRequestInput,
  type SignResponseInput,
  type SignedRequestHeaders,
  type SignedResponseHeaders,
  type VerifyRequestInput,
  type VerifyResponseInput,
} from './handshake.js';
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
