/**
 * The signed-request handshake of docs/protocol.md §4, and its RFC 9421 form (§4b).
 *
 * A caller signs `AGENTMESH-REQUEST-V1\n<METHOD>\n<path?query>\n<target>\n<caller>\n<ts>\n<nonce>\n
 * <sha256(body)>` and sends it in `X-Agent-*` headers ({@link signRequest}); {@link signHttpRequest}
 * adds the RFC 9421 form with the same nonce and time (`am`, `am-agent` through a gateway, `wba`
 * for Web Bot Auth). A verifier ({@link verifySignedRequest}, {@link verifyRequest}) accepts either
 * form or both, checking in the node's order: no `X-Agent-*` header twice, every header present,
 * the caller's ID, the target is itself, the timestamp within ±window, the nonce's length; the RFC
 * 9421 signature's fields, coverage, digest, time and nonce; that both forms agree; the signatures
 * — and only then records the nonce, so a forged request can neither fill the nonce cache nor burn
 * a legitimate nonce.
 *
 * Responses are signed over `AGENTMESH-RESPONSE-V1\n<status>\n<request nonce>\n<responder>\n<ts>\n
 * <sha256(body)>` ({@link signResponse}) and as RFC 9421 `am` over `("@status" "content-digest")`
 * ({@link signResponseRfc9421}); {@link verifyResponse} checks whichever are present.
 * @module
 */

import { verifySignature, type VerifyKey } from './ed25519.js';
import { b64url, b64urlDecode, nowUnix, randomBytes, sha256Hex, toBytes } from './encoding.js';
import { HandshakeError, InvalidIdError } from './errors.js';
import {
  AGENT_LABEL,
  H_CONTENT_DIGEST,
  H_HTTP_SIGNATURE,
  H_SIGNATURE_AGENT,
  H_SIGNATURE_INPUT,
  HttpSigError,
  LABEL,
  REQUEST_COMPONENTS,
  RESPONSE_COMPONENTS,
  RequestTarget,
  agentmeshParams,
  checkTime,
  contentDigest,
  contentDigestMatches,
  covers,
  inputMember,
  parseSignature,
  signResponseTarget,
  signRequestTarget,
  signWebBotAuth,
  signatureMember,
  type Parsed,
  type Signed,
} from './httpsig.js';
import { publicKeyFromDid, verifyKeyOf, type Identity } from './identity.js';

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
  /** The first value of a header. */
  get(name: string): string | undefined;
  /** Every value of a header joined with `, ` (how RFC 9110 combines field lines). */
  all(name: string): string | undefined;
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
      all: (name) => headers.get(name) ?? undefined,
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
    all: (name) => {
      const list = values.get(name);
      return list && list.length > 0 ? list.join(', ') : undefined;
    },
    count: (name) => values.get(name)?.length ?? 0,
  };
}

/** Which signature forms a request or answer carries. */
export type SignatureForm = 'x-agent' | 'rfc9421';

/** What {@link verifyRequest} checks. */
export interface VerifyRequestInput {
  /** The request's method. */
  method: string;
  /** The path and query exactly as received (an agent with a base path strips it first): what the `X-Agent-*` form signs. */
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
  /**
   * What the RFC 9421 form covers, where it is not the request's `Host` and `pathAndQuery`:
   * `authority` pins `@authority` (one value, or several accepted ones), `pathAndQuery` gives
   * `@path` and `@query` (an agent with a base path: the path as received, base path included).
   * By default `@authority` is the request's `Host`, or `me` lowercased (the authority a caller
   * signs for a relayed agent, docs/protocol.md §4b, which `agentmesh connect` passes on).
   */
  wire?: { authority?: string | readonly string[] | undefined; pathAndQuery?: string | undefined } | undefined;
}

/** A verified request: who called, with which nonce, in which forms. */
export interface VerifiedRequest {
  /** The caller's did:key. */
  readonly caller: string;
  /** The request's nonce (its answer is signed over it). */
  readonly nonce: string;
  /** The forms it carried, each verified. */
  readonly forms: readonly SignatureForm[];
}

/** Unix seconds in canonical decimal (no sign, no leading zero): the header is the very text
 * signed (docs/protocol.md §4). */
function parseTimestamp(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A request whose headers passed, waiting for its signatures' verdict. */
interface Pending {
  caller: string;
  ts: number;
  nonce: string;
  /** The key and the messages any one of which the signature may sign (several `@authority` readings). */
  key: VerifyKey;
  msgs: Uint8Array[];
  sig: Uint8Array;
}

function keyOrBad(did: string, what: string): VerifyKey {
  try {
    return verifyKeyOf(did);
  } catch (e) {
    throw new HandshakeError('bad_signature', `bad signature: ${what}: ${e instanceof InvalidIdError ? e.message : 'invalid'}`);
  }
}

/** The `X-Agent-*` form (docs/protocol.md §4). */
function checkX(h: Lookup, input: VerifyRequestInput, me: string, now: number, windowS: number): Pending {
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
  const key = keyOrBad(caller, 'X-Agent-ID');
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
  return { caller, ts, nonce, key, msgs: [msg], sig };
}

function rfcError(e: unknown, prefix = 'RFC 9421'): HandshakeError {
  if (e instanceof HttpSigError && e.code === 'missing') return new HandshakeError('missing_header', `missing or unreadable header ${e.header ?? ''}`);
  if (e instanceof HttpSigError && e.code === 'stale') return new HandshakeError('stale_timestamp', `${prefix}: ${e.message}`);
  if (e instanceof HttpSigError) return new HandshakeError('bad_signature', `bad signature: ${prefix}: ${e.message}`);
  throw e;
}

/** The RFC 9421 form (docs/protocol.md §4b). */
function checkRfc9421(h: Lookup, input: VerifyRequestInput, me: string, now: number, windowS: number): Pending {
  let authorities: readonly string[];
  const pinned = input.wire?.authority;
  if (pinned !== undefined) {
    authorities = typeof pinned === 'string' ? [pinned] : pinned;
  } else {
    const host = h.all('host') ?? h.all(':authority');
    if (host === undefined) throw new HandshakeError('missing_header', 'missing or unreadable header host');
    authorities = [host, me];
  }
  // Absent fields are named (docs/protocol.md §4b, "Errors"), Content-Digest included, before
  // the signature that covers it is read.
  for (const name of [H_HTTP_SIGNATURE, H_CONTENT_DIGEST]) {
    if (h.all(name) === undefined) throw new HandshakeError('missing_header', `missing or unreadable header ${name}`);
  }
  const wirePath = input.wire?.pathAndQuery ?? input.pathAndQuery;
  const header = (n: string): string | undefined => h.all(n);
  const parseAt = (authority: string): Parsed => {
    const target = new RequestTarget(input.method, authority, wirePath);
    return parseSignature(header, (c) => target.value(c), 'agentmesh');
  };
  let parsed: Parsed;
  try {
    parsed = parseAt(authorities[0] ?? '');
  } catch (e) {
    throw rfcError(e);
  }
  if (!covers(parsed, REQUEST_COMPONENTS)) {
    throw new HandshakeError(
      'bad_signature',
      `bad signature: RFC 9421: the signature must cover ${REQUEST_COMPONENTS.map((c) => `"${c}"`).join(' ')}`,
    );
  }
  const digest = h.all(H_CONTENT_DIGEST);
  if (digest === undefined) throw new HandshakeError('missing_header', `missing or unreadable header ${H_CONTENT_DIGEST}`);
  let digestOk: boolean;
  try {
    digestOk = contentDigestMatches(digest, input.body ?? new Uint8Array(0));
  } catch (e) {
    throw rfcError(e);
  }
  if (!digestOk) throw new HandshakeError('bad_signature', 'bad signature: Content-Digest does not match the body');
  const p = parsed.params;
  try {
    checkTime(parsed, now, windowS);
  } catch (e) {
    throw rfcError(e);
  }
  const nonce = p.nonce;
  if (nonce === undefined || nonce.length < 16 || nonce.length > 256) {
    throw new HandshakeError('bad_signature', 'bad signature: RFC 9421: the signature needs a nonce of 16–256 characters');
  }
  const key = keyOrBad(p.keyid, 'RFC 9421 keyid');
  if (parsed.signature.length !== 64) {
    throw new HandshakeError('bad_signature', 'bad signature: RFC 9421: the signature is not 64 bytes (Ed25519)');
  }
  const msgs = [toBytes(parsed.base)];
  for (const other of authorities.slice(1)) {
    try {
      msgs.push(toBytes(parseAt(other).base));
    } catch {
      // the same fields parse the same at any authority
    }
  }
  return { caller: p.keyid, ts: p.created, nonce, key, msgs, sig: parsed.signature };
}

/**
 * Verifies a signed request (docs/protocol.md §4 and §4b): the `X-Agent-*` form, the RFC 9421
 * form, or both — which must then agree (`keyid` = `X-Agent-ID`, `nonce` = `X-Agent-Nonce`,
 * `created` = `X-Agent-Timestamp`). Resolves to the caller, its nonce and the forms checked;
 * rejects with a {@link HandshakeError} whose `code` is the node's: `missing_header`,
 * `bad_signature`, `wrong_target`, `stale_timestamp` or `replayed_nonce`. The nonce is recorded
 * only once every signature verified.
 */
export async function verifySignedRequest(input: VerifyRequestInput): Promise<VerifiedRequest> {
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
  const hasX = h.get(H_SIGNATURE) !== undefined || h.get(H_AGENT_ID) !== undefined;
  const hasRfc = h.all(H_SIGNATURE_INPUT) !== undefined;
  const x = hasX || !hasRfc ? checkX(h, input, me, now, windowS) : undefined;
  const rfc = hasRfc ? checkRfc9421(h, input, me, now, windowS) : undefined;
  if (x && rfc && (x.caller !== rfc.caller || x.nonce !== rfc.nonce || x.ts !== rfc.ts)) {
    throw new HandshakeError(
      'bad_signature',
      'bad signature: the X-Agent-* and RFC 9421 signatures disagree on the caller, nonce or time (keyid, nonce and created must equal X-Agent-ID, X-Agent-Nonce and X-Agent-Timestamp)',
    );
  }
  const checks = [x, rfc].filter((c): c is Pending => c !== undefined);
  for (const c of checks) {
    let ok = false;
    for (const msg of c.msgs) {
      if (await verifySignature(c.key, msg, c.sig)) {
        ok = true;
        break;
      }
    }
    if (!ok) throw new HandshakeError('bad_signature', 'bad signature: does not match the request (method, path, body, headers)');
  }
  const first = checks[0]!;
  cache.insert(first.caller, first.nonce, first.ts, now, windowS);
  return { caller: first.caller, nonce: first.nonce, forms: [...(x ? ['x-agent' as const] : []), ...(rfc ? ['rfc9421' as const] : [])] };
}

/**
 * Verifies a signed request (docs/protocol.md §4 and §4b, either form or both). Resolves to the
 * caller's did:key; rejects with a {@link HandshakeError} whose `code` is the node's:
 * `missing_header`, `bad_signature`, `wrong_target`, `stale_timestamp` or `replayed_nonce`.
 * {@link verifySignedRequest} also gives the nonce and the forms.
 */
export async function verifyRequest(input: VerifyRequestInput): Promise<string> {
  return (await verifySignedRequest(input)).caller;
}

/** What {@link signResponse} signs. */
export interface SignResponseInput {
  /** The HTTP status sent. */
  status: number;
  /** The request's nonce (empty if it had none). */
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

/** The RFC 9421 headers of a signed answer. */
export type Rfc9421ResponseHeaders = {
  'content-digest': string;
  'signature-input': string;
  signature: string;
};

/**
 * Signs a response as `identity` in the RFC 9421 form (docs/protocol.md §4b): `Content-Digest`,
 * and the `am` signature over `("@status" "content-digest")` with `nonce` = the request's nonce.
 */
export function signResponseRfc9421(identity: Identity, input: SignResponseInput): Rfc9421ResponseHeaders {
  const body = input.body ?? new Uint8Array(0);
  const signed = signResponseTarget(identity, input.status, input.requestNonce, body, input.timestamp ?? nowUnix());
  return { 'content-digest': contentDigest(body), 'signature-input': inputMember(signed), signature: signatureMember(signed) };
}

/** Both forms of a signed answer, with one timestamp: what agents send. */
export function signResponseBoth(identity: Identity, input: SignResponseInput): SignedResponseHeaders & Rfc9421ResponseHeaders {
  const withTime = { ...input, timestamp: input.timestamp ?? nowUnix() };
  return { ...signResponse(identity, withTime), ...signResponseRfc9421(identity, withTime) };
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

/** Whether a response carries a signature in either form. */
export function responseIsSigned(headers: HeadersLike): boolean {
  const h = headerLookup(headers);
  return h.get(H_SIGNATURE) !== undefined || h.all(H_SIGNATURE_INPUT) !== undefined;
}

interface Check {
  key: VerifyKey;
  msg: Uint8Array;
  sig: Uint8Array;
}

function responseMismatch(): HandshakeError {
  return new HandshakeError('bad_signature', 'response signature does not match');
}

function responseCheckX(h: Lookup, input: VerifyResponseInput): Check {
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
  const key = keyOrBad(responder, 'X-Agent-ID');
  const sig = b64urlDecode(sigText);
  if (!sig || sig.length !== 64) throw responseMismatch();
  const msg = toBytes(
    responseSigningString({
      status: input.status,
      requestNonce: input.requestNonce,
      responder,
      timestamp: ts,
      bodySha256Hex: sha256Hex(toBytes(input.body ?? new Uint8Array(0))),
    }),
  );
  return { key, msg, sig };
}

function responseCheckRfc9421(h: Lookup, input: VerifyResponseInput): Check {
  const bad = (e: unknown): HandshakeError =>
    new HandshakeError('bad_signature', `bad signature: RFC 9421 answer: ${e instanceof Error ? e.message : String(e)}`);
  let parsed: Parsed;
  try {
    parsed = parseSignature(
      (n) => h.all(n),
      (c) => (c === '@status' ? String(input.status) : undefined),
      { label: LABEL },
    );
  } catch (e) {
    if (e instanceof HttpSigError) throw bad(e);
    throw e;
  }
  if (parsed.params.keyid !== input.agentId) {
    throw new HandshakeError('wrong_target', `the response is signed by ${parsed.params.keyid.slice(0, 100)}, not ${input.agentId}`);
  }
  const digest = h.all(H_CONTENT_DIGEST);
  if (digest === undefined) throw new HandshakeError('missing_header', `missing or unreadable header ${H_CONTENT_DIGEST}`);
  let digestOk: boolean;
  try {
    digestOk = contentDigestMatches(digest, input.body ?? new Uint8Array(0));
  } catch (e) {
    throw bad(e);
  }
  if (!covers(parsed, RESPONSE_COMPONENTS) || parsed.params.nonce !== input.requestNonce || !digestOk) throw responseMismatch();
  let key: VerifyKey;
  try {
    key = { raw: publicKeyFromDid(parsed.params.keyid) };
  } catch (e) {
    throw bad(new Error(`keyid: ${e instanceof Error ? e.message : 'invalid'}`));
  }
  if (parsed.signature.length !== 64) throw bad(new Error('the signature is not 64 bytes (Ed25519)'));
  return { key, msg: toBytes(parsed.base), sig: parsed.signature };
}

/**
 * Checks that a response was signed by `agentId` for the request with `requestNonce`, in the
 * `X-Agent-*` form, the RFC 9421 form (`am` over `@status` and `Content-Digest`), or both — then
 * both must hold. Rejects with {@link HandshakeError}: `missing_header`, `wrong_target` (signed
 * by someone else), `stale_timestamp` (not a decimal time), `bad_signature`.
 */
export async function verifyResponse(input: VerifyResponseInput): Promise<void> {
  const h = headerLookup(input.headers);
  const hasRfc = h.all(H_SIGNATURE_INPUT) !== undefined;
  const checks: Check[] = [];
  if (h.get(H_SIGNATURE) !== undefined || !hasRfc) checks.push(responseCheckX(h, input));
  if (hasRfc) checks.push(responseCheckRfc9421(h, input));
  for (const c of checks) {
    if (!(await verifySignature(c.key, c.msg, c.sig))) throw responseMismatch();
  }
}

/** Which forms an outgoing request is signed in. */
export type SignForms = 'both' | 'x-agent' | 'rfc9421';

/** What {@link signHttpRequest} signs. */
export interface SignHttpRequestInput {
  /** The callee's did:key (`X-Agent-Target`). */
  target: string;
  /** HTTP method (signed uppercase). */
  method: string;
  /** The absolute URL the request is sent to: `am` covers its authority, path and query. */
  url: string;
  /**
   * The path and query the `X-Agent-*` form signs: the one the agent sees (through a gateway,
   * the part after `/invoke`). Default: the URL's.
   */
  pathAndQuery?: string;
  /** The body bytes (a string as UTF-8); none = empty. */
  body?: Uint8Array | string;
  /**
   * Through a gateway: the agent's card `endpoint`. Adds `am-agent`, over the endpoint joined with
   * `pathAndQuery` (docs/protocol.md §7), or — for `relay://` — `@authority` = the agent's did:key.
   */
  agentEndpoint?: string | undefined;
  /** Add the Web Bot Auth `wba` signature, pointing at this key directory URL (docs/protocol.md §4c). */
  webBotAuthDirectory?: string | undefined;
  /** Which forms (default both). */
  forms?: SignForms;
  /** Unix seconds; default now. */
  timestamp?: number;
  /** base64url of ≥ 16 bytes; default 16 fresh random bytes. */
  nonce?: string;
  /** The 64-byte Web Bot Auth nonce; default fresh random bytes. Test vectors only. */
  webBotAuthNonce?: Uint8Array;
}

/** The headers {@link signHttpRequest} adds. */
export type SignedHttpRequestHeaders = Partial<SignedRequestHeaders> & {
  'content-digest'?: string;
  'signature-input'?: string;
  signature?: string;
  'signature-agent'?: string;
};

/** The path and query of an absolute URL, as written. */
function pathAndQueryOf(url: string): string {
  const t = RequestTarget.ofUrl('GET', url);
  if (!t) throw new TypeError(`\`${url.slice(0, 100)}\` is not an absolute http(s) URL`);
  return t.query !== undefined ? `${t.path}?${t.query}` : t.path;
}

/** `endpoint` joined with `path` (docs/protocol.md §7): the bare path `/` is the endpoint itself. */
function joinEndpointPath(base: string, path: string): string {
  if (path.startsWith('/')) {
    const rest = path.slice(1);
    if (rest === '' || rest.startsWith('?')) return base + rest;
  }
  return base.replace(/\/+$/, '') + path;
}

/**
 * Signs a request in both forms (docs/protocol.md §4 and §4b) with one nonce and time: the
 * `X-Agent-*` headers, and `Content-Digest`, `Signature-Input` and `Signature` with `am` over
 * `url` — plus `am-agent` for the agent's own URL when `agentEndpoint` is given (calls through a
 * gateway), plus the Web Bot Auth `wba` signature and `Signature-Agent` when
 * `webBotAuthDirectory` is given.
 */
export function signHttpRequest(identity: Identity, input: SignHttpRequestInput): SignedHttpRequestHeaders {
  const forms = input.forms ?? 'both';
  const pathAndQuery = input.pathAndQuery ?? pathAndQueryOf(input.url);
  const timestamp = input.timestamp ?? nowUnix();
  const nonce = input.nonce ?? b64url(randomBytes(16));
  const body = input.body ?? new Uint8Array(0);
  const out: SignedHttpRequestHeaders = {};
  if (forms !== 'rfc9421') {
    Object.assign(
      out,
      signRequest(identity, { target: input.target, method: input.method, pathAndQuery, body, timestamp, nonce }),
    );
  }
  const signed: Signed[] = [];
  let signatureAgent: string | undefined;
  if (forms !== 'x-agent' || input.webBotAuthDirectory !== undefined) {
    const hop = RequestTarget.ofUrl(input.method, input.url);
    if (!hop) throw new TypeError(`\`${input.url.slice(0, 100)}\` is not an absolute http(s) URL`);
    const params = agentmeshParams(identity, timestamp, nonce);
    if (forms !== 'x-agent') {
      signed.push(signRequestTarget(identity, LABEL, hop, body, params));
      const e = input.agentEndpoint;
      const agent =
        e === undefined
          ? undefined
          : e.startsWith('relay://')
            ? new RequestTarget(input.method, input.target, pathAndQuery)
            : RequestTarget.ofUrl(input.method, joinEndpointPath(e, pathAndQuery));
      if (agent) signed.push(signRequestTarget(identity, AGENT_LABEL, agent, body, params));
    }
    if (input.webBotAuthDirectory !== undefined) {
      const wba = signWebBotAuth(identity, hop, body, input.webBotAuthDirectory, timestamp, input.webBotAuthNonce);
      signed.push(wba.signed);
      signatureAgent = wba.signatureAgent;
    }
  }
  if (signed.length > 0) {
    out[H_CONTENT_DIGEST] = contentDigest(body);
    out[H_SIGNATURE_INPUT] = signed.map(inputMember).join(', ');
    out[H_HTTP_SIGNATURE] = signed.map(signatureMember).join(', ');
  }
  if (signatureAgent !== undefined) out[H_SIGNATURE_AGENT] = signatureAgent;
  return out;
}
