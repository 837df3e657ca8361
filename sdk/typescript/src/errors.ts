/**
 * Typed errors. Every error the SDK throws is an {@link AgentMeshError} with a stable `code`;
 * where the node has a code for the same failure (docs/protocol.md §6), it is that code.
 * @module
 */

import type { InvokeResponse } from './client.js';

/** The error codes of docs/protocol.md §6 (and the bounds readings). */
export type NodeErrorCode =
  | 'invalid_json'
  | 'invalid_id'
  | 'invalid_field'
  | 'too_large'
  | 'bad_signature'
  | 'missing_header'
  | 'wrong_target'
  | 'stale_timestamp'
  | 'replayed_nonce'
  | 'stale'
  | 'not_found'
  | 'revoked'
  | 'forbidden'
  | 'rate_limited'
  | 'agent_offline'
  | 'upstream_failed'
  | 'upstream_timeout'
  | 'internal'
  | 'request_timeout'
  | 'overloaded'
  | 'insufficient_storage';

/** The codes a signed-request verifier refuses with (all HTTP 401). */
export type HandshakeErrorCode =
  | 'missing_header'
  | 'bad_signature'
  | 'wrong_target'
  | 'stale_timestamp'
  | 'replayed_nonce';

/** Base class of every error the SDK throws. */
export class AgentMeshError extends Error {
  /** A stable, machine-readable code. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A signed request (or response) was refused. `code` is the node's code for the same
 * refusal; `status` is the HTTP status a server answers with (401).
 */
export class HandshakeError extends AgentMeshError {
  declare readonly code: HandshakeErrorCode;
  /** The HTTP status to answer with: 401. */
  readonly status = 401;

  constructor(code: HandshakeErrorCode, message: string) {
    super(code, message);
  }
}

/** A request body over the cap (HTTP 413, code `too_large`). */
export class BodyTooLargeError extends AgentMeshError {
  declare readonly code: 'too_large';
  /** The HTTP status to answer with: 413. */
  readonly status = 413;
  /** The cap, in bytes. */
  readonly limit: number;

  constructor(limit: number) {
    super('too_large', `the request body is over the ${limit}-byte limit`);
    this.limit = limit;
  }
}

/** A string that is not an Ed25519 did:key (the node's `invalid_id`). */
export class InvalidIdError extends AgentMeshError {
  declare readonly code: 'invalid_id';

  constructor(message: string) {
    super('invalid_id', message);
  }
}

/** A card that does not verify or breaks a rule (`bad_signature`, `invalid_field`, `invalid_id`). */
export class CardError extends AgentMeshError {}

/** Why a key could not be loaded or saved. */
export type KeyStoreErrorCode = 'bad_name' | 'not_found' | 'exists' | 'corrupt' | 'permissions' | 'io';

/** Keys on disk: not found, corrupt, readable by others, … */
export class KeyStoreError extends AgentMeshError {
  declare readonly code: KeyStoreErrorCode;
  /** The file concerned, when there is one. */
  readonly path: string | undefined;

  constructor(code: KeyStoreErrorCode, message: string, path?: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.path = path;
  }
}

/** The node answered with an error (`{"error":{"code","message"}}`) or an unexpected status. */
export class NodeError extends AgentMeshError {
  /** The HTTP status. */
  readonly status: number;
  /** The URL called. */
  readonly url: string;

  constructor(status: number, code: string, message: string, url: string) {
    super(code, `${message} (HTTP ${status} ${code} from ${url})`);
    this.status = status;
    this.url = url;
  }
}

/** Why a call did not get an answer: `timeout`, `unreachable`, or `too_large` (answer over the cap). */
export type TransportErrorCode = 'timeout' | 'unreachable' | 'too_large' | 'aborted';

/** A call that got no (usable) answer. */
export class TransportError extends AgentMeshError {
  declare readonly code: TransportErrorCode;
  /** The URL called. */
  readonly url: string;

  constructor(code: TransportErrorCode, message: string, url: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
    this.url = url;
  }
}

/** An agent's answer whose signature is missing or does not verify, when one was required. */
export class ResponseSignatureError extends AgentMeshError {
  /** The answer, as received. */
  readonly response: InvokeResponse;

  constructor(message: string, response: InvokeResponse) {
    super('bad_signature', message);
    this.response = response;
  }
}
