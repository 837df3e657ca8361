/**
 * The signed-request handshake of docs/protocol.md §4.
 *
 * A caller signs `AGENTMESH-REQUEST-V1\n<METHOD>\n<path?query>\n<target>\n<caller>\n<ts>\n<nonce>\n
 * <sha256(body)>` and sends it in `X-Agent-*` headers ({@link signRequest}). A verifier
 * ({@link verifyRequest}) checks, in the node's order: no `X-Agent-*` header twice, every header
 * present, the caller's ID, the target is itself, the timestamp within ±window, the nonce's
 * length, the signature, and only then records the nonce — so a forged request can neither fill
 * the nonce cache nor burn a legitimate nonce.
 *
 * Responses are signed over `AGENTMESH-RESPONSE-V1\n<status>\n<request nonce>\n<responder>\n<ts>\n
 * <sha256(body)>` ({@link signResponse}, {@link verifyResponse}).
 * @module
 */

import { verifySignature } from './ed25519.js';
import { b64url, b64urlDecode, nowUnix, randomBytes, sha256Hex, toBytes } from './encoding.js';
import { HandshakeError, InvalidIdError } from './errors.js';
import { verifyKeyOf, type Identity } from './identity.js';

/** Caller's did:key. */
export const H_AGENT_ID = 'x-agent-id';
/** Callee's did:key (a node's ID for its admin API). */
export const H_TARGET = 'x-agent-target';
/** Unix seconds. */
export const H_TIMESTAMP = 'x-agent-timestamp';
/** ≥ 16 random bytes, base64url. */
export const H_NONCE = 'x-agent-nonce';
/** base64url Ed25519 signature. */
export const H_SIGNATURE = 'x-agent-signature';
/** The five headers of a signed request, in the order they are checked. */
export const SIGNED_REQUEST_HEADERS = [H_AGENT_ID, H_TARGET, H_TIMESTAMP, H_NONCE, H_SIGNATURE] as const;
/** Default accepted clock skew, seconds. */
export const DEFAULT_CLOCK_SKEW_S = 60;
/** Default number of nonces a {@link NonceCache} remembers. */
export const DEFAULT_NONCE_CAPACITY = 100_000;

/**
 * Request or response headers in any of the usual shapes: a WHATWG `Headers`, Node's
 * `IncomingHttpHeaders` (values may be arrays), a plain record, or `[name, value]` pairs.
 * Names are matched case-insensitively.
 */
export type HeadersLike =
  | Headers
  | Readonly<Record<string, string | readonly string[] | number | undefined>>
  | Iterable<readonly [string, string]>;

/** The `X-Agent-*` headers of a signed request. */
export type SignedRequestHeaders = {
  'x-agent-id': string;
  'x-agent-target': string;
  'x-agent-timestamp': string;
  'x-agent-nonce': string;
  'x-agent-signature': string;
};

/** The `X-Agent-*` headers of a signed response. */
export type SignedResponseHeaders = {
  'x-agent-id': string;
  'x-agent-timestamp': string;
  'x-agent-signature': string;
};

function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (c) => c.toUpperCase());
}

/** The request signing string of docs/protocol.md §4. */
export function requestSigningString(p: {
  method: string;
  pathAndQuery: string;
  target: string;
  caller: string;
  timestamp: number;
  nonce: string;
  bodySha256Hex: string;
}): string {
  // An empty query is no query: `/x?` is signed as `/x` (docs/protocol.md §4).
  const pathAndQuery = p.pathAndQuery.endsWith('?') ? p.pathAndQuery.slice(0, -1) : p.pathAndQuery;
  return [
    'AGENTMESH-REQUEST-V1',
    asciiUpper(p.method),
    pathAndQuery,
    p.target,
    p.caller,
    String(p.timestamp),
    p.nonce,
    p.bodySha256Hex,
  ].join('\n');
}

/** The response signing string of docs/protocol.md §4. */
export function responseSigningString(p: {
  status: number;
  requestNonce: string;
  responder: string;
  timestamp: number;
  bodySha256Hex: string;
}): string {
  return ['AGENTMESH-RESPONSE-V1', String(p.status), p.requestNonce, p.responder, String(p.timestamp), p.bodySha256Hex].join(
    '\n',
  );
}

/** What {@link signRequest} signs. */
export interface SignRequestInput {
  /** The callee's did:key (for a node's admin API: the node's ID). */
  target: string;
  /** HTTP method (signed uppercase). */
  method: string;
  /** The path and query exactly as the callee sees them, e.g. `/forecast?days=2`. */
  pathAndQuery: string;
  /** The body bytes (a string is sent and hashed as UTF-8); none = empty. */
  body?: Uint8Array | string;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** base64url of ≥ 16 bytes; default 16 fresh random bytes. Test vectors only. */
  nonce?: string;
}

/** Signs a request as `identity`: the five `X-Agent-*` headers to send with it. */
export function signRequest(identity: Identity, input: SignRequestInput): SignedRequestHeaders {
  if (!input.pathAndQuery.startsWith('/')) {
    throw new TypeError(`pathAndQuery must start with / (got \`${input.pathAndQuery.slice(0, 80)}\`)`);
  }
  const timestamp = input.timestamp ?? nowUnix();
  if (!Number.isSafeInteger(timestamp)) throw new TypeError('timestamp must be an integer (unix seconds)');
  const nonce = input.nonce ?? b64url(randomBytes(16));
  const s = requestSigningString({
    method: input.method,
    pathAndQuery: input.pathAndQuery,
    target: input.target,
    caller: identity.agentId,
    timestamp,
    nonce,
    bodySha256Hex: sha256Hex(toBytes(input.body ?? new Uint8Array(0))),
  });
  return {
    'x-agent-id': identity.agentId,
    'x-agent-target': input.target,
    'x-agent-timestamp': String(timestamp),
    'x-agent-nonce': nonce,
    'x-agent-signature': identity.signB64(s),
  };
}

/** Options of a {@link NonceCache}. */
export interface NonceCacheOptions {
  /** The most nonces remembered (default 100,000). When full, the oldest are forgotten and
   * timestamps at or before the newest forgotten one are refused (`stale_timestamp`). */
  capacity?: number;
  /** Refuse every request signed at or before this unix second (`stale_timestamp`), e.g. the
   * second before this process started, so nothing accepted by a previous run can be replayed. */
  refuseUntil?: number;
}

/**
 * Remembers `(caller, nonce)` pairs for the clock-skew window, bounded in memory: when full it
 * forgets the oldest and from then on refuses timestamps at or before the newest one forgotten,
 * so the window shrinks under a flood but no forgotten nonce can be replayed (the node's rule).
 */
export class NonceCache {
  /** The most nonces remembered. */
  readonly capacity: number;
  #floor: number;
  readonly #seen = new Map<string, number>();
  // A binary min-heap of (timestamp, key), in step with #seen.
  readonly #heapTs: number[] = [];
  readonly #heapKey: string[] = [];

  constructor(options: NonceCacheOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? DEFAULT_NONCE_CAPACITY));
    this.#floor = options.refuseUntil ?? Number.NEGATIVE_INFINITY;
  }

  /** How many nonces are remembered now. */
  get size(): number {
    return this.#seen.size;
  }

  /** Refuses every request signed at or before `ts` from now on. */
  refuseUntil(ts: number): void {
    this.#floor = Math.max(this.#floor, ts);
  }

  /**
   * Records `(caller, nonce)` signed at `ts`; throws {@link HandshakeError} `stale_timestamp` at or
   * before the floor, `replayed_nonce` if seen within the window.
   */
  insert(caller: string, nonce: string, ts: number, now: number, windowS: number): void {
    // Forget what the window no longer accepts anyway.
    while (this.#heapTs.length > 0 && this.#heapTs[0]! < now - windowS) {
      const [, k] = this.#pop();
      this.#seen.delete(k);
    }
    if (ts <= this.#floor) {
      throw new HandshakeError(
        'stale_timestamp',
        `timestamp ${ts} is outside the accepted window (at or before what this verifier can still check for replays: its replay cache is full, or it restarted); retry with a fresh timestamp`,
      );
    }
    const key = `${caller}\u0000${nonce}`;
    if (this.#seen.has(key)) throw new HandshakeError('replayed_nonce', 'nonce already used by this caller');
    this.#seen.set(key, ts);
    this.#push(ts, key);
    while (this.#seen.size > this.capacity) {
      const [t, k] = this.#pop();
      this.#seen.delete(k);
      this.#floor = Math.max(this.#floor, t);
    }
  }

  #push(ts: number, key: string): void {
    const h = this.#heapTs;
    const hk = this.#heapKey;
    let i = h.length;
    h.push(ts);
    hk.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= ts) break;
      h[i] = h[parent]!;
      hk[i] = hk[parent]!;
      i = parent;
    }
    h[i] = ts;
    hk[i] = key;
  }

  #pop(): [number, string] {
    const h = this.#heapTs;
    const hk = this.#heapKey;
    const top: [number, string] = [h[0]!, hk[0]!];
    const lastTs = h.pop()!;
    const lastKey = hk.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r]! < h[l]! ? r : l;
        if (h[c]! >= lastTs) break;
        h[i] = h[c]!;
        hk[i] = hk[c]!;
        i = c;
      }
      h[i] = lastTs;
      hk[i] = lastKey;
    }
    return top;
  }
}

/** The process-wide cache used when {@link verifyRequest} is given none. */
export const defaultNonceCache = new NonceCache();

interface Lookup {
  get(name: string): string | undefined;
  count(name: string): number;
}

function isHeaders(h: HeadersLike): h is Headers {
  return typeof (h as Headers).get === 'function' && typeof (h as Headers).has === 'function';
}

function isPairs(h: HeadersLike): h is Iterable<readonly [string, string]> {
  return typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** Case-insensitive header lookup over any {@link HeadersLike}; never throws on odd values. */
export function headerLookup(headers: HeadersLike): Lookup {
  if (isHeaders(headers)) {
    return {
      get: (name) => headers.get(name) ?? undefined,
      count: (name) => (headers.has(name) ? 1 : 0),
    };
  }
  const values = new Map<string, string[]>();
  const add = (k: string, v: unknown): void => {
    const name = k.toLowerCase();
    let list = values.get(name);
    if (!list) values.set(name, (list = []));
    if (Array.isArray(v)) for (const x of v) list.push(String(x));
    else if (v !== undefined && v !== null) list.push(String(v));
  };
  if (isPairs(headers)) {
    for (const pair of headers) if (Array.isArray(pair) && pair.length >= 2) add(String(pair[0]), pair[1]);
  } else {
    for (const [k, v] of Object.entries(headers)) add(k, v);
  }
  return {
    get: (name) => values.get(name)?.[0],
    count: (name) => values.get(name)?.length ?? 0,
  };
}

/** What {@link verifyRequest} checks. */
export interface VerifyRequestInput {
  /** The request's method. */
  method: string;
  /** The path and query exactly as received (an agent with a base path strips it first). */
  pathAndQuery: string;
  /** The request's headers. */
  headers: HeadersLike;
  /** The body bytes exactly as received (a string is taken as UTF-8); none = empty. */
  body?: Uint8Array | string;
  /** Who the request must be addressed to: this agent's identity or did:key. */
  me: Identity | string;
  /** Where nonces are remembered; default one cache for the process ({@link defaultNonceCache}). */
  nonceCache?: NonceCache;
  /** Accepted clock skew in seconds (default 60). */
  clockSkew?: number;
  /** Unix seconds to check against; default now. */
  now?: number;
}

/** Unix seconds in canonical decimal (no sign, no leading zero): the header is the very text
 * signed (docs/protocol.md §4). */
function parseTimestamp(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Verifies a signed request (docs/protocol.md §4). Resolves to the caller's did:key; rejects with
 * a {@link HandshakeError} whose `code` is the node's: `missing_header`, `bad_signature`,
 * `wrong_target`, `stale_timestamp` or `replayed_nonce`.
 */
export async function verifyRequest(input: VerifyRequestInput): Promise<string> {
  const me = typeof input.me === 'string' ? input.me : input.me.agentId;
  const now = input.now ?? nowUnix();
  const windowS = input.clockSkew ?? DEFAULT_CLOCK_SKEW_S;
  const cache = input.nonceCache ?? defaultNonceCache;
  const h = headerLookup(input.headers);
  for (const name of SIGNED_REQUEST_HEADERS) {
    if (h.count(name) > 1) {
      throw new HandshakeError('bad_signature', `the request carries ${name} more than once; a signed request has one`);
    }
  }
  const get = (name: (typeof SIGNED_REQUEST_HEADERS)[number]): string => {
    const v = h.get(name);
    if (v === undefined) throw new HandshakeError('missing_header', `missing or unreadable header ${name}`);
    return v;
  };
  const caller = get(H_AGENT_ID);
  const target = get(H_TARGET);
  const tsText = get(H_TIMESTAMP);
  const nonce = get(H_NONCE);
  const sigText = get(H_SIGNATURE);
  let key;
  try {
    key = verifyKeyOf(caller);
  } catch (e) {
    throw new HandshakeError('bad_signature', `bad signature: X-Agent-ID: ${e instanceof InvalidIdError ? e.message : 'invalid'}`);
  }
  if (target !== me) {
    throw new HandshakeError('wrong_target', `request is addressed to ${target.slice(0, 100)}, not ${me}`);
  }
  const ts = parseTimestamp(tsText);
  if (ts === undefined) {
    throw new HandshakeError('stale_timestamp', 'timestamp is outside the accepted window (not a decimal unix time)');
  }
  if (Math.abs(ts - now) > windowS) {
    throw new HandshakeError(
      'stale_timestamp',
      `timestamp ${ts} is outside the accepted window (${ts - now} s from this agent's clock; at most ±${windowS} s)`,
    );
  }
  const nonceBytes = b64urlDecode(nonce);
  if (!nonceBytes || nonceBytes.length < 16) {
    throw new HandshakeError('missing_header', 'missing or unreadable header x-agent-nonce (16+ bytes of base64url)');
  }
  const sig = b64urlDecode(sigText);
  if (!sig || sig.length !== 64) {
    throw new HandshakeError('bad_signature', 'bad signature: X-Agent-Signature is not 64 bytes of base64url');
  }
  const msg = toBytes(
    requestSigningString({
      method: input.method,
      pathAndQuery: input.pathAndQuery,
      target,
      caller,
      timestamp: ts,
      nonce,
      bodySha256Hex: sha256Hex(toBytes(input.body ?? new Uint8Array(0))),
    }),
  );
  if (!(await verifySignature(key, msg, sig))) {
    throw new HandshakeError('bad_signature', 'bad signature: does not match the request (method, path, body, headers)');
  }
  cache.insert(caller, nonce, ts, now, windowS);
  return caller;
}

/** What {@link signResponse} signs. */
export interface SignResponseInput {
  /** The HTTP status sent. */
  status: number;
  /** The request's `X-Agent-Nonce` (empty if it had none). */
  requestNonce: string;
  /** The body bytes sent (a string as UTF-8); none = empty. */
  body?: Uint8Array | string;
  /** Unix seconds; default now. */
  timestamp?: number;
}

/** Signs a response as `identity`: the three `X-Agent-*` headers to send with it. */
export function signResponse(identity: Identity, input: SignResponseInput): SignedResponseHeaders {
  const timestamp = input.timestamp ?? nowUnix();
  const s = responseSigningString({
    status: input.status,
    requestNonce: input.requestNonce,
    responder: identity.agentId,
    timestamp,
    bodySha256Hex: sha256Hex(toBytes(input.body ?? new Uint8Array(0))),
  });
  return {
    'x-agent-id': identity.agentId,
    'x-agent-timestamp': String(timestamp),
    'x-agent-signature': identity.signB64(s),
  };
}

/** What {@link verifyResponse} checks. */
export interface VerifyResponseInput {
  /** The agent that must have signed: the request's target. */
  agentId: string;
  /** The response's status. */
  status: number;
  /** The nonce of the request this answers. */
  requestNonce: string;
  /** The response's headers. */
  headers: HeadersLike;
  /** The response body bytes exactly as received. */
  body?: Uint8Array | string;
}

/**
 * Checks that a response was signed by `agentId` for the request with `requestNonce`. Rejects
 * with {@link HandshakeError}: `missing_header`, `wrong_target` (signed by someone else),
 * `stale_timestamp` (not a decimal time), `bad_signature`.
 */
export async function verifyResponse(input: VerifyResponseInput): Promise<void> {
  const h = headerLookup(input.headers);
  const get = (name: string): string => {
    const v = h.get(name);
    if (v === undefined) throw new HandshakeError('missing_header', `missing or unreadable header ${name}`);
    return v;
  };
  const responder = get(H_AGENT_ID);
  if (responder !== input.agentId) {
    throw new HandshakeError('wrong_target', `the response is signed by ${responder.slice(0, 100)}, not ${input.agentId}`);
  }
  const ts = parseTimestamp(get(H_TIMESTAMP));
  if (ts === undefined) throw new HandshakeError('stale_timestamp', 'the response timestamp is not a decimal unix time');
  const sigText = get(H_SIGNATURE);
  let key;
  try {
    key = verifyKeyOf(responder);
  } catch (e) {
    throw new HandshakeError('bad_signature', `bad signature: X-Agent-ID: ${e instanceof InvalidIdError ? e.message : 'invalid'}`);
  }
  const sig = b64urlDecode(sigText);
  const msg = toBytes(
    responseSigningString({
      status: input.status,
      requestNonce: input.requestNonce,
      responder,
      timestamp: ts,
      bodySha256Hex: sha256Hex(toBytes(input.body ?? new Uint8Array(0))),
    }),
  );
  if (!sig || sig.length !== 64 || !(await verifySignature(key, msg, sig))) {
    throw new HandshakeError('bad_signature', 'response signature does not match');
  }
}
