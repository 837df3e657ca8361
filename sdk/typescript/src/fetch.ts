/**
 * Agents on the web-standard `Request`/`Response` objects: Hono, Next.js route handlers,
 * Cloudflare Workers, Deno, Bun.
 * @module
 */

import { DEFAULT_MAX_BODY_BYTES, TOO_LARGE, declaredOver, readStreamCapped } from './body.js';
import { utf8 } from './encoding.js';
import { AgentMeshError, BodyTooLargeError, HandshakeError } from './errors.js';
import { H_NONCE, NonceCache, headerLookup, signResponseBoth, verifySignedRequest, type SignatureForm } from './handshake.js';
import { nonceOf, normalizeAuthority } from './httpsig.js';
import type { Identity } from './identity.js';

/** Options of {@link verifyFetchRequest} and {@link withAgentMesh}. */
export interface VerifyFetchOptions {
  /** Where nonces are remembered; default one cache per process (shared by every agent). */
  nonceCache?: NonceCache;
  /** Accepted clock skew in seconds (default 60). */
  clockSkew?: number;
  /** The largest body read, in bytes (default 1 MiB); larger is `too_large` (413). */
  maxBodyBytes?: number;
  /**
   * The agent's base path, stripped before verifying: an agent whose card's endpoint is
   * `https://host/agent` sees `/agent/x` for a call the caller signed as `/x` (docs/protocol.md §4).
   */
  basePath?: string;
  /**
   * The path and query exactly as received, when the framework knows it better than
   * `request.url` (which the URL parser normalizes: percent-encoding, dot-segments).
   */
  pathAndQuery?: string;
  /**
   * The `@authority` the RFC 9421 form must cover, or several accepted ones. Default: the
   * request's `Host` header (else the host of `request.url`), or this agent's did:key lowercased
   * (what callers sign for a relayed agent).
   */
  authority?: string | readonly string[];
}

/** A verified request: who called, and the body (which verification had to read). */
export interface VerifiedFetchRequest {
  /** The caller's did:key, verified. */
  readonly caller: string;
  /** The request's nonce (responses are signed over it). */
  readonly nonce: string;
  /** The signature forms the request carried, each verified (`x-agent`, `rfc9421`). */
  readonly forms: readonly SignatureForm[];
  /** The body bytes exactly as received. */
  readonly body: Uint8Array;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON (throws `SyntaxError` if it is not). */
  json<T = unknown>(): T;
}

/** The path and query of a serialized URL, without re-encoding it. */
function rawPathAndQuery(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0) return url.startsWith('/') ? url : '/';
  const slash = url.indexOf('/', scheme + 3);
  let pq = slash < 0 ? '/' : url.slice(slash);
  const hash = pq.indexOf('#');
  if (hash >= 0) pq = pq.slice(0, hash);
  if (slash < 0) {
    const q = url.indexOf('?', scheme + 3);
    if (q >= 0) pq = '/' + url.slice(q).split('#')[0];
  }
  return pq;
}

/**
 * Strips an agent's base path: `/agent/x?y` → `/x?y`; `/agent` and `/agent?y` are the endpoint
 * itself, `/` and `/?y` (docs/protocol.md §7: the bare path `/` is the endpoint).
 */
export function stripBasePath(pathAndQuery: string, basePath: string | undefined): string {
  const base = (basePath ?? '').replace(/\/+$/, '');
  if (!base) return pathAndQuery;
  if (!pathAndQuery.startsWith(base)) return pathAndQuery;
  const rest = pathAndQuery.slice(base.length);
  if (rest === '' || rest.startsWith('?')) return '/' + rest;
  if (rest.startsWith('/')) return rest;
  return pathAndQuery;
}

/**
 * Verifies a web-standard `Request` addressed to `me`: reads its body (under the cap), checks the
 * signature, timestamp and nonce. Resolves to the caller and the body; rejects with
 * {@link HandshakeError} (401, `.code` the node's) or {@link BodyTooLargeError} (413).
 *
 * The request's body is consumed: use the returned `body`, `text()` or `json()`.
 */
export async function verifyFetchRequest(
  request: Request,
  me: Identity | string,
  options: VerifyFetchOptions = {},
): Promise<VerifiedFetchRequest> {
  const cap = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (request.bodyUsed) {
    throw new AgentMeshError('internal', 'the request body was already read: verify the request before reading it');
  }
  if (declaredOver(request.headers.get('content-length'), cap)) throw new BodyTooLargeError(cap);
  const read = await readStreamCapped(request.body, cap);
  if (read === TOO_LARGE) throw new BodyTooLargeError(cap);
  const body = read;
  const received = options.pathAndQuery ?? rawPathAndQuery(request.url);
  const pathAndQuery = stripBasePath(received, options.basePath);
  let authority = options.authority;
  if (authority === undefined) {
    let url: URL | undefined;
    try {
      url = new URL(request.url);
    } catch {
      url = undefined;
    }
    const header = request.headers.get('host') ?? undefined;
    const host = header !== undefined ? normalizeAuthority(header, url?.protocol) : url?.host;
    if (host !== undefined) authority = [host, typeof me === 'string' ? me : me.agentId];
  }
  const verified = await verifySignedRequest({
    method: request.method,
    pathAndQuery,
    headers: request.headers,
    body,
    me,
    // RFC 9421 covers the request as received: base path included.
    wire: { pathAndQuery: received, authority },
    ...(options.nonceCache ? { nonceCache: options.nonceCache } : {}),
    ...(options.clockSkew !== undefined ? { clockSkew: options.clockSkew } : {}),
  });
  return {
    caller: verified.caller,
    nonce: verified.nonce,
    forms: verified.forms,
    body,
    text: () => utf8(body),
    json: <T>() => JSON.parse(utf8(body)) as T,
  };
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/**
 * Signs `response` as `identity` for the request that carried `requestNonce` (docs/protocol.md §4
 * and §4b): a new `Response` with the same status, headers and body plus `X-Agent-ID`,
 * `X-Agent-Timestamp`, `X-Agent-Signature`, and `Content-Digest`, `Signature-Input` and
 * `Signature` (`am` over `@status` and `content-digest`). The body is read whole (a signature covers it),
 * so streamed answers are buffered.
 */
export async function signFetchResponse(response: Response, identity: Identity, requestNonce: string): Promise<Response> {
  const nullBody = NULL_BODY_STATUS.has(response.status);
  const body = nullBody ? new Uint8Array(0) : new Uint8Array(await response.arrayBuffer());
  const headers = new Headers(response.headers);
  const signed = signResponseBoth(identity, { status: response.status, requestNonce, body });
  for (const [k, v] of Object.entries(signed)) headers.set(k, v);
  if (!nullBody) headers.set('content-length', String(body.length));
  return new Response(nullBody ? null : body, { status: response.status, statusText: response.statusText, headers });
}

/** An answer in the node's error shape, `{"error":{"code","message"}}`. */
export function errorResponse(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** A fetch-style handler given the verified request. */
export type AgentHandler = (request: Request, verified: VerifiedFetchRequest) => Response | Promise<Response>;

/**
 * Wraps a fetch-style handler as an agent: every request is verified first (refusals answer 401
 * or 413 in the node's error shape), and every answer — refusals included — is signed.
 *
 * ```ts
 * export const POST = withAgentMesh(me, async (_req, { caller, json }) =>
 *   Response.json({ hello: caller, got: json() }));
 * ```
 */
export function withAgentMesh(
  identity: Identity,
  handler: AgentHandler,
  options: VerifyFetchOptions = {},
): (request: Request) => Promise<Response> {
  const opts: VerifyFetchOptions = { ...options, nonceCache: options.nonceCache ?? new NonceCache() };
  return async (request: Request): Promise<Response> => {
    const lookup = headerLookup(request.headers);
    const nonce = lookup.get(H_NONCE) ?? nonceOf((n) => lookup.all(n)) ?? '';
    let verified: VerifiedFetchRequest;
    try {
      verified = await verifyFetchRequest(request, identity, opts);
    } catch (e) {
      if (e instanceof HandshakeError || e instanceof BodyTooLargeError) {
        return signFetchResponse(errorResponse(e.status, e.code, e.message), identity, nonce);
      }
      if (e instanceof AgentMeshError && e.code === 'internal') {
        return signFetchResponse(errorResponse(500, 'internal', e.message), identity, nonce);
      }
      return signFetchResponse(errorResponse(400, 'invalid_field', 'the request body could not be read'), identity, nonce);
    }
    let answer: Response;
    try {
      answer = await handler(request, verified);
    } catch {
      answer = errorResponse(500, 'internal', 'the agent failed to answer');
    }
    return signFetchResponse(answer, identity, nonce);
  };
}
