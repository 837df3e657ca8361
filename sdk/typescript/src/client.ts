/**
 * A client of a node's HTTP API (docs/protocol.md §6): register and revoke cards, look agents
 * up, discover them, and invoke them with signed requests whose answers are verified.
 * @module
 */

import { TOO_LARGE, declaredOver, readStreamCapped } from './body.js';
import {
  buildManifest,
  signCard,
  verifyCard,
  type CardFields,
  type Envelope,
  type JsonValue,
  type Manifest,
} from './card.js';
import { b64url, nowUnix, parseRfc3339, randomBytes, toBytes, utf8 } from './encoding.js';
import { AgentMeshError, CardError, HandshakeError, NodeError, ResponseSignatureError, TransportError } from './errors.js';
import { responseIsSigned, signHttpRequest, verifyResponse, type SignForms } from './handshake.js';
import { RequestTarget, directoryUrl, inputMember, signDirectory, signatureMember } from './httpsig.js';
import { publicKeyFromDid, type Identity } from './identity.js';

/** How far in the future a card's `issued_at` may be (the node refuses more). */
const MAX_FUTURE_SKEW_S = 300;
/** How long an agent's card endpoint is kept for the `am-agent` signature. */
const ENDPOINT_CACHE_MS = 5 * 60 * 1000;

/** Options of a {@link NodeClient}. */
export interface NodeClientOptions {
  /** Timeout of API calls in milliseconds (default 10,000). */
  timeoutMs?: number;
  /** Timeout of invocations in milliseconds (default 30,000, the node's gateway timeout). */
  invokeTimeoutMs?: number;
  /** The largest answer read, in bytes (default 16 MiB). */
  maxResponseBytes?: number;
  /** The `fetch` to use (default the global one). */
  fetch?: typeof fetch;
  /**
   * Sign this identity's key directory for the node's authority when registering, and keep the
   * signature in the card as `meta.httpsig_directory` (default true; docs/protocol.md §4c), so the
   * node serves the directory signed by the key it lists.
   */
  signKeyDirectory?: boolean;
}

/** `POST /v1/agents` → 201 or 200. */
export interface Registration {
  agent_id: string;
  seq: number;
  status: 'created' | 'updated' | 'revoked';
  /** The signed envelope that was published. */
  card: Envelope;
}

/** Options of {@link NodeClient.discover}. */
export interface DiscoverOptions {
  /** Plain words (≤ 1,000 characters). Without it: filter only, ordered by trust. */
  q?: string;
  /** Tags that must all match (case-insensitively). */
  tags?: string[] | string;
  /** A protocol the agent must speak (`http`, `mcp`, `a2a`, …). */
  protocol?: string;
  /** The least local trust score (0–1). */
  minTrust?: number;
  /** How many results (1–100, default 10 at the node). */
  limit?: number;
  /** Check each result's card signature and drop forged ones (default true). */
  verifyCards?: boolean;
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** One discovery result. */
export interface DiscoverHit {
  agent_id: string;
  /** The final rank score. */
  score: number;
  /** Cosine similarity of the query and the card. */
  similarity: number;
  /** The share of the query's information the card's words match (0–1). */
  lexical: number;
  /** This node's trust in the agent (0.5 if unknown). */
  trust: number;
  /** The signed card. */
  card: Envelope;
  [extra: string]: JsonValue | Envelope | undefined;
}

/** `GET /v1/agents?…`. */
export interface DiscoverResult {
  results: DiscoverHit[];
  took_ms: number;
  /** Results dropped because their card did not verify (0 from an honest node). */
  rejected: number;
}

/** Options of {@link NodeClient.invoke}. */
export interface InvokeOptions {
  /** The path and query on the agent (default `/`), signed as given. */
  path?: string;
  /** HTTP method (default POST with a body, GET without). */
  method?: string;
  /** A JSON body (sent with `content-type: application/json`). */
  json?: unknown;
  /** A raw body (a string is sent as UTF-8). */
  body?: Uint8Array | string;
  /** Extra headers (the signature's own headers win). */
  headers?: Record<string, string>;
  /** Timeout in milliseconds (default the client's `invokeTimeoutMs`). */
  timeoutMs?: number;
  /** Call the agent's http(s) endpoint directly instead of through the node's gateway. */
  direct?: boolean;
  /**
   * Which signature forms to send (docs/protocol.md §4, §4b): `both` (default), `x-agent` or
   * `rfc9421`.
   */
  forms?: SignForms;
  /**
   * Add the Web Bot Auth signature (docs/protocol.md §4c): `Signature-Agent` pointing at this
   * caller's key directory on this node, and the `wba` signature, which sites that speak Web Bot
   * Auth (Cloudflare's verifiers) check. Direct calls only: a gateway drops it.
   */
  webBotAuth?: boolean;
  /** Reject with {@link ResponseSignatureError} unless the answer is signed by the agent and verifies. */
  requireSignature?: boolean;
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** `{"error":{"code","message"}}`, the node's (and agents') error shape. */
export interface ErrorBody {
  code: string;
  message: string;
}

/** An agent's answer. */
export class InvokeResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers. */
  readonly headers: Headers;
  /** The body bytes exactly as received. */
  readonly body: Uint8Array;
  /** Whether the answer carried a signature (`X-Agent-Signature` or RFC 9421 `Signature-Input`). */
  readonly signed: boolean;
  /** Whether the answer is signed by the agent called, for this request and this body. */
  readonly verified: boolean;
  /** Why a signed answer did not verify (or `undefined`). */
  readonly signatureError: HandshakeError | undefined;
  /** The URL called. */
  readonly url: string;

  constructor(init: {
    status: number;
    headers: Headers;
    body: Uint8Array;
    signed: boolean;
    verified: boolean;
    signatureError?: HandshakeError | undefined;
    url: string;
  }) {
    this.status = init.status;
    this.headers = init.headers;
    this.body = init.body;
    this.signed = init.signed;
    this.verified = init.verified;
    this.signatureError = init.signatureError;
    this.url = init.url;
  }

  /** 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The body as UTF-8 text. */
  text(): string {
    return utf8(this.body);
  }

  /** The body parsed as JSON (throws `SyntaxError` if it is not JSON). */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /** The `{"error":{"code","message"}}` of a refusal (by the node or the agent), if the body is one. */
  error(): ErrorBody | undefined {
    return parseErrorBody(this.body);
  }
}

function parseErrorBody(body: Uint8Array): ErrorBody | undefined {
  try {
    const v = JSON.parse(utf8(body)) as unknown;
    if (typeof v === 'object' && v !== null && 'error' in v) {
      const e = (v as { error: unknown }).error;
      if (typeof e === 'object' && e !== null) {
        const { code, message } = e as { code?: unknown; message?: unknown };
        if (typeof code === 'string') return { code, message: typeof message === 'string' ? message : '' };
      }
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * The URL of `path` at an endpoint `base`: the bare path `/` (with or without a query) is the
 * endpoint itself, any other path is appended (docs/protocol.md §7).
 */
export function joinEndpoint(base: string, path: string): string {
  if (path.startsWith('/')) {
    const rest = path.slice(1);
    if (rest === '' || rest.startsWith('?')) return base + rest;
  }
  return base.replace(/\/+$/, '') + path;
}

function combineSignals(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const t = AbortSignal.timeout(timeoutMs);
  if (!signal) return t;
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any([t, signal]);
  const c = new AbortController();
  const abort = (s: AbortSignal): void => c.abort(s.reason);
  if (signal.aborted) abort(signal);
  signal.addEventListener('abort', () => abort(signal), { once: true });
  t.addEventListener('abort', () => abort(t), { once: true });
  return c.signal;
}

function transportError(e: unknown, url: string, timeoutMs: number, signal: AbortSignal): TransportError {
  const name = typeof e === 'object' && e !== null && 'name' in e ? String((e as { name: unknown }).name) : '';
  const reason: unknown = signal.reason;
  const timedOut =
    name === 'TimeoutError' ||
    (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError');
  if (timedOut) return new TransportError('timeout', `no answer from ${url} within ${timeoutMs} ms`, url, e);
  if (signal.aborted || name === 'AbortError') return new TransportError('aborted', `the call to ${url} was aborted`, url, e);
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : e instanceof Error ? `: ${e.message}` : '';
  return new TransportError('unreachable', `cannot reach ${url}${cause}`, url, e);
}

/** A year, in seconds: how long a key directory signature of a card without expiry lasts. */
const YEAR_S = 365 * 24 * 3600;

/**
 * Puts in `m.meta.httpsig_directory` the agent's signature over its own key directory as the node
 * at `nodeUrl` serves it (docs/protocol.md §4c), valid from `issued_at` to the card's expiry (a year
 * when it has none), as `agentmesh register` does.
 */
function withKeyDirectory(m: Manifest, me: Identity, nodeUrl: string): void {
  const authority = RequestTarget.ofUrl('GET', nodeUrl)?.authority;
  if (authority === undefined) return;
  const created = parseRfc3339(m.issued_at) ?? nowUnix();
  const expires = (typeof m.expires_at === 'string' ? parseRfc3339(m.expires_at) : undefined) ?? created + YEAR_S;
  const signed = signDirectory(me, authority, created, expires);
  const meta = (typeof m.meta === 'object' && m.meta !== null && !Array.isArray(m.meta) ? { ...m.meta } : {}) as Record<string, JsonValue>;
  meta['httpsig_directory'] = { authority, signature_input: inputMember(signed), signature: signatureMember(signed) };
  (m as { meta?: unknown }).meta = meta;
}

/**
 * A client of one node, acting as `identity` (needed to register, revoke and invoke; reading
 * and discovery need none).
 *
 * ```ts
 * const node = new NodeClient('http://127.0.0.1:7070', await Identity.load('me'));
 * const [hit] = (await node.discover({ q: 'weather forecast' })).results;
 * const res = await node.invoke(hit.agent_id, { path: '/forecast', json: { city: 'Paris' } });
 * if (res.verified) console.log(res.json());
 * ```
 */
export class NodeClient {
  /** The node's base URL, without a trailing `/`. */
  readonly url: string;
  /** Who signs. */
  readonly identity: Identity | undefined;
  readonly #timeoutMs: number;
  readonly #invokeTimeoutMs: number;
  readonly #maxBytes: number;
  readonly #fetch: typeof fetch;
  readonly #signKeyDirectory: boolean;
  #lastIssuedAt = 0;
  /** Agents' card endpoints (for the `am-agent` signature), looked up once. */
  readonly #endpoints = new Map<string, { endpoint: string | undefined; at: number }>();
  readonly #endpointLookups = new Map<string, Promise<string | undefined>>();

  constructor(url: string, identity?: Identity, options: NodeClientOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`\`${url}\` is not a URL (expected http(s)://host:port)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`\`${url}\` is not an http(s):// URL`);
    }
    this.url = url.replace(/\/+$/, '');
    this.identity = identity;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#invokeTimeoutMs = options.invokeTimeoutMs ?? 30_000;
    this.#maxBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch: pass options.fetch');
    this.#fetch = f;
    this.#signKeyDirectory = options.signKeyDirectory ?? true;
  }

  #me(what: string): Identity {
    if (!this.identity) throw new AgentMeshError('no_identity', `${what} needs an identity: new NodeClient(url, identity)`);
    return this.identity;
  }

  /** One HTTP exchange with a capped body read; transport failures become {@link TransportError}. */
  async #exchange(
    url: string,
    init: RequestInit,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
    const s = combineSignals(timeoutMs, signal);
    let res: Response;
    try {
      res = await this.#fetch(url, { ...init, signal: s, redirect: 'manual' });
    } catch (e) {
      throw transportError(e, url, timeoutMs, s);
    }
    if (declaredOver(res.headers.get('content-length'), this.#maxBytes)) {
      await res.body?.cancel().catch(() => undefined);
      throw new TransportError('too_large', `the answer from ${url} is over ${this.#maxBytes} bytes`, url);
    }
    let body: Uint8Array | typeof TOO_LARGE;
    try {
      body = await readStreamCapped(res.body, this.#maxBytes);
    } catch (e) {
      throw transportError(e, url, timeoutMs, s);
    }
    if (body === TOO_LARGE) {
      throw new TransportError('too_large', `the answer from ${url} is over ${this.#maxBytes} bytes`, url);
    }
    return { status: res.status, headers: res.headers, body };
  }

  /** A JSON API call; non-2xx answers become {@link NodeError}. */
  async #api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; data: T }> {
    const url = this.url + path;
    const init: RequestInit = { method, headers: { accept: 'application/json' } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    }
    const res = await this.#exchange(url, init, this.#timeoutMs, signal);
    if (res.status < 200 || res.status >= 300) {
      const e = parseErrorBody(res.body);
      const snippet = utf8(res.body.subarray(0, 300));
      throw new NodeError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? (snippet || 'no body'), url);
    }
    try {
      return { status: res.status, data: JSON.parse(utf8(res.body)) as T };
    } catch {
      throw new NodeError(res.status, 'invalid_json', 'the node answered with something that is not JSON', url);
    }
  }

  /** The `issued_at` (unix seconds) of the card the node holds for `agentId`, if a live one. */
  async #storedCard(agentId: string): Promise<Manifest | undefined> {
    try {
      return (await this.get(agentId)).manifest;
    } catch (e) {
      if (e instanceof NodeError && (e.status === 404 || e.status === 410)) return undefined;
      throw e;
    }
  }

  /** The next `issued_at`: now, or just after the stored (or last signed) version if that is not older. */
  #nextIssuedAt(stored: Manifest | undefined): number {
    const now = nowUnix();
    let at = now;
    const storedAt = stored ? parseRfc3339(stored.issued_at) : undefined;
    if (storedAt !== undefined && storedAt >= now && storedAt < now + MAX_FUTURE_SKEW_S) at = storedAt + 1;
    if (this.#lastIssuedAt >= at && this.#lastIssuedAt < now + MAX_FUTURE_SKEW_S) at = this.#lastIssuedAt + 1;
    return at;
  }

  async #publish(build: (issuedAt: number) => Manifest, stored: Manifest | undefined): Promise<Registration> {
    const me = this.#me('publishing a card');
    let at = this.#nextIssuedAt(stored);
    for (let attempt = 0; ; attempt++) {
      const card = signCard(build(at), me);
      try {
        const { data } = await this.#api<Omit<Registration, 'card'>>('POST', '/v1/agents', card);
        this.#lastIssuedAt = at;
        return { ...data, card };
      } catch (e) {
        // A version at this second exists already (e.g. a tombstone this client cannot read): next second.
        if (e instanceof NodeError && e.code === 'stale' && attempt < 2 && at + 1 < nowUnix() + MAX_FUTURE_SKEW_S) {
          at += 1;
          continue;
        }
        throw e;
      }
    }
  }

  /**
   * Signs a card of `fields` as this client's identity and publishes it (`POST /v1/agents`).
   * `schema`, `agent_id` and `issued_at` are filled in; `issued_at` is now, or one second after
   * the version the node holds if that is not older.
   */
  async register(fields: CardFields): Promise<Registration> {
    const me = this.#me('register');
    const stored = await this.#storedCard(me.agentId);
    return this.#publish((at) => {
      const m = buildManifest(me, fields, at);
      if (this.#signKeyDirectory && m.revoked !== true) withKeyDirectory(m, me, this.url);
      return m;
    }, stored);
  }

  /** Publishes a signed tombstone: this identity's card is revoked on every node. */
  async revoke(): Promise<Registration> {
    const me = this.#me('revoke');
    const stored = await this.#storedCard(me.agentId);
    const name = stored?.name ?? 'revoked';
    return this.#publish((at) => buildManifest(me, { name, revoked: true }, at), stored);
  }

  /**
   * The card of `agentId` (`GET /v1/agents/{id}`), its signature verified and its `agent_id`
   * checked. {@link NodeError} 404 `not_found` if unknown, 410 if revoked or expired.
   */
  async get(agentId: string, options: { signal?: AbortSignal } = {}): Promise<Envelope> {
    publicKeyFromDid(agentId);
    const { data } = await this.#api<unknown>('GET', `/v1/agents/${agentId}`, undefined, options.signal);
    const card = await verifyCard(data);
    if (card.manifest.agent_id !== agentId) {
      throw new CardError('bad_signature', `the node answered with the card of ${card.manifest.agent_id} for ${agentId}`);
    }
    return card;
  }

  /** Finds agents (`GET /v1/agents?q=&tags=&protocol=&min_trust=&limit=`), best first. */
  async discover(options: DiscoverOptions = {}): Promise<DiscoverResult> {
    const params = new URLSearchParams();
    if (options.q !== undefined) params.set('q', options.q);
    const tags = typeof options.tags === 'string' ? [options.tags] : options.tags;
    if (tags && tags.length > 0) params.set('tags', tags.join(','));
    if (options.protocol !== undefined) params.set('protocol', options.protocol);
    if (options.minTrust !== undefined) params.set('min_trust', String(options.minTrust));
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    const qs = params.toString();
    const { data } = await this.#api<{ results?: unknown; took_ms?: unknown }>(
      'GET',
      `/v1/agents${qs ? '?' + qs : ''}`,
      undefined,
      options.signal,
    );
    const raw = Array.isArray(data.results) ? (data.results as DiscoverHit[]) : [];
    let rejected = 0;
    const results: DiscoverHit[] = [];
    for (const hit of raw) {
      if (options.verifyCards !== false) {
        try {
          const card = await verifyCard(hit?.card);
          if (card.manifest.agent_id !== hit.agent_id) throw new CardError('bad_signature', 'agent_id mismatch');
        } catch {
          rejected += 1;
          continue;
        }
      }
      results.push(hit);
    }
    return { results, took_ms: typeof data.took_ms === 'number' ? data.took_ms : 0, rejected };
  }

  /** `GET /v1/node`: the node's ID, version and counters. */
  async nodeInfo(options: { signal?: AbortSignal } = {}): Promise<{ node_id: string; version: string; [k: string]: unknown }> {
    return (await this.#api<{ node_id: string; version: string }>('GET', '/v1/node', undefined, options.signal)).data;
  }

  /**
   * The card endpoint of `agentId`, looked up once (`GET /v1/agents/{id}`) and kept for 5 minutes;
   * `undefined` when the card cannot be had (the gateway will say why).
   */
  async #endpointOf(agentId: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    const hit = this.#endpoints.get(agentId);
    if (hit && Date.now() - hit.at < ENDPOINT_CACHE_MS) return hit.endpoint;
    let lookup = this.#endpointLookups.get(agentId);
    if (!lookup) {
      lookup = this.get(agentId, signal ? { signal } : {})
        .then((card) => {
          this.#endpoints.set(agentId, { endpoint: card.manifest.endpoint, at: Date.now() });
          return card.manifest.endpoint;
        })
        .catch(() => undefined)
        .finally(() => this.#endpointLookups.delete(agentId));
      this.#endpointLookups.set(agentId, lookup);
    }
    return lookup;
  }

  /**
   * Calls agent `agentId` with a signed request: through the node's gateway
   * (`<node>/v1/agents/<id>/invoke/<path>`), or straight to its endpoint with `direct`. Resolves
   * to the answer whatever its status (refusals by the node or the agent are answers too); its
   * `verified` says whether the agent's signature on it holds.
   */
  async invoke(agentId: string, options: InvokeOptions = {}): Promise<InvokeResponse> {
    const me = this.#me('invoke');
    publicKeyFromDid(agentId);
    const path = options.path ?? '/';
    if (!path.startsWith('/')) throw new TypeError(`path must start with / (got \`${path.slice(0, 80)}\`)`);
    if (options.json !== undefined && options.body !== undefined) throw new TypeError('pass json or body, not both');
    const headers: Record<string, string> = {};
    let body: Uint8Array | undefined;
    if (options.json !== undefined) {
      body = toBytes(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = toBytes(options.body);
    }
    for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
    const method = (options.method ?? (body !== undefined ? 'POST' : 'GET')).toUpperCase();
    if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
      throw new TypeError(`a ${method} request cannot carry a body`);
    }
    if (options.webBotAuth && !options.direct) {
      throw new TypeError('webBotAuth needs direct: true (a gateway passes on only the signature made for the agent)');
    }
    let base: string;
    let agentEndpoint: string | undefined;
    if (options.direct) {
      const endpoint = (await this.get(agentId, options.signal ? { signal: options.signal } : {})).manifest.endpoint ?? '';
      this.#endpoints.set(agentId, { endpoint, at: Date.now() });
      if (!/^https?:\/\//.test(endpoint)) {
        throw new AgentMeshError('invalid_field', `direct calls need an http(s) endpoint; this agent's is \`${endpoint}\``);
      }
      base = endpoint;
    } else {
      base = `${this.url}/v1/agents/${agentId}/invoke`;
      // The agent checks a signature over its own URL (`am-agent`, docs/protocol.md §4b).
      if (options.forms !== 'x-agent') agentEndpoint = await this.#endpointOf(agentId, options.signal);
    }
    const url = joinEndpoint(base, path);
    let wireUrl: string;
    try {
      wireUrl = new URL(url).href; // what fetch sends: the URL as WHATWG serializes it
    } catch {
      throw new TypeError(`\`${url.slice(0, 100)}\` is not a URL`);
    }
    const nonce = b64url(randomBytes(16));
    const signed = signHttpRequest(me, {
      target: agentId,
      method,
      url: wireUrl,
      pathAndQuery: path,
      body: body ?? new Uint8Array(0),
      agentEndpoint,
      nonce,
      ...(options.forms ? { forms: options.forms } : {}),
      ...(options.webBotAuth ? { webBotAuthDirectory: directoryUrl(this.url, me.agentId) } : {}),
    });
    Object.assign(headers, signed);
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body as BodyInit;
    const res = await this.#exchange(url, init, options.timeoutMs ?? this.#invokeTimeoutMs, options.signal);
    const isSigned = responseIsSigned(res.headers);
    let signatureError: HandshakeError | undefined;
    if (isSigned) {
      try {
        await verifyResponse({
          agentId,
          status: res.status,
          requestNonce: nonce,
          headers: res.headers,
          body: res.body,
        });
      } catch (e) {
        if (!(e instanceof HandshakeError)) throw e;
        signatureError = e;
      }
    }
    const answer = new InvokeResponse({
      status: res.status,
      headers: res.headers,
      body: res.body,
      signed: isSigned,
      verified: isSigned && signatureError === undefined,
      signatureError,
      url,
    });
    if (options.requireSignature && !answer.verified) {
      throw new ResponseSignatureError(
        isSigned
          ? `the answer from ${url} is signed but does not verify (${signatureError?.message ?? ''}): it may have been altered`
          : `the answer from ${url} is not signed`,
        answer,
      );
    }
    return answer;
  }
}
