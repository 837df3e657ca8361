/**
 * An Express (or Connect, or plain `node:http`) middleware that makes a server an AgentMesh
 * agent: it verifies every caller's signed request (docs/protocol.md §4, either form of §4b) and
 * signs every answer in both forms.
 *
 * Mount it **before** body parsers: it reads the raw body (a signature covers its exact bytes),
 * parses JSON bodies into `req.body` itself, and exposes the verified caller as
 * `req.agentmesh.caller`.
 * @module
 */

import { DEFAULT_MAX_BODY_BYTES, declaredOver } from './body.js';
import { concatBytes, toBytes, utf8 } from './encoding.js';
import { HandshakeError } from './errors.js';
import { H_NONCE, NonceCache, headerLookup, signResponseBoth, verifySignedRequest, type SignatureForm } from './handshake.js';
import { nonceOf, normalizeAuthority } from './httpsig.js';
import type { Identity } from './identity.js';
import { stripBasePath } from './fetch.js';

/** What the middleware puts on `req.agentmesh` for the handlers after it. */
export interface AgentMeshRequestContext {
  /** The caller's did:key, verified. */
  readonly caller: string;
  /** The request's nonce (the answer is signed over it). */
  readonly nonce: string;
  /** The raw body bytes, as verified. */
  readonly body: Uint8Array;
  /** The signature forms the request carried, each verified (`x-agent`, `rfc9421`). */
  readonly forms?: readonly SignatureForm[];
}

declare global {
  // Express's own request type, augmented (merges with @types/express when installed).
  namespace Express {
    interface Request {
      /** Set by AgentMesh's `expressMiddleware` once the caller is verified. */
      agentmesh?: AgentMeshRequestContext;
    }
  }
}

/** The parts of a Node/Express request the middleware uses. */
export interface AgentRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  /** Express: the request target as received, before routing rewrote `url`. */
  originalUrl?: string | undefined;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  rawHeaders?: string[];
  readableEnded?: boolean;
  body?: unknown;
  /** The connection (a TLS socket has `encrypted`): the scheme whose default port `Host` may carry. */
  socket?: unknown;
  agentmesh?: AgentMeshRequestContext | undefined;
  on(event: string, listener: (...args: never[]) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
  pause(): unknown;
}

/** The parts of a Node/Express response the middleware uses. */
export interface AgentResponseLike {
  statusCode: number;
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  getHeader(name: string): unknown;
  removeHeader(name: string): unknown;
  end(...args: never[]): unknown;
}

/** Options of {@link expressMiddleware}. */
export interface ExpressMiddlewareOptions {
  /** Where nonces are remembered (default: a new cache of 100,000 for this middleware). */
  nonceCache?: NonceCache;
  /** Accepted clock skew in seconds (default 60). */
  clockSkew?: number;
  /** The largest request body read, in bytes (default 1 MiB); larger answers 413 `too_large`. */
  maxBodyBytes?: number;
  /** The agent's base path (its card's endpoint path), stripped before verifying the `X-Agent-*` form. */
  basePath?: string;
  /**
   * The `@authority` the RFC 9421 form must cover (e.g. the public host behind a reverse proxy
   * that rewrites `Host`), or several accepted ones. Default: the request's `Host`, or this
   * agent's did:key lowercased (what callers sign for a relayed agent).
   */
  authority?: string | readonly string[];
  /** Parse JSON bodies into `req.body` (default true); a malformed one answers 400 `invalid_json`. */
  parseJson?: boolean;
  /** Sign every answer (default true). */
  signResponses?: boolean;
  /**
   * Refuse requests signed before this middleware was created (`stale_timestamp`), so a request
   * accepted by a previous run of the process cannot be replayed after a restart — what a node
   * does after a crash. Default false: callers whose clocks run behind would be refused for up to
   * the clock-skew window after each start.
   */
  refuseBeforeStart?: boolean;
}

type Loose = Record<string, unknown> & {
  statusCode: number;
  statusMessage?: string;
  headersSent: boolean;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  getHeader(name: string): unknown;
  removeHeader(name: string): unknown;
};
type AnyFn = (...args: unknown[]) => unknown;

function chunkBytes(chunk: unknown, encoding: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') {
    const B = (globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } }).Buffer;
    if (B && typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8') return B.from(chunk, encoding);
    return toBytes(chunk);
  }
  if (chunk === undefined || chunk === null) return new Uint8Array(0);
  throw new TypeError('response chunks must be strings or bytes');
}

/**
 * Buffers the answer and signs it when it ends: `writeHead`, `write` and `end` are wrapped until
 * then, so the signature headers go out with the head.
 */
function installSigner(res: AgentResponseLike, identity: Identity, nonce: string, isHead: boolean): void {
  const r = res as unknown as Loose;
  const names = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
  const own = new Map<string, unknown>();
  for (const k of names) if (Object.prototype.hasOwnProperty.call(r, k)) own.set(k, r[k]);
  const chunks: Uint8Array[] = [];
  const restore = (): void => {
    for (const k of names) {
      if (own.has(k)) r[k] = own.get(k);
      else delete r[k];
    }
  };
  r['writeHead'] = function writeHead(status: number, reasonOrHeaders?: unknown, maybeHeaders?: unknown): unknown {
    r.statusCode = status;
    let headers = maybeHeaders;
    if (typeof reasonOrHeaders === 'string') r.statusMessage = reasonOrHeaders;
    else headers = reasonOrHeaders;
    if (Array.isArray(headers)) {
      if (headers.length > 0 && Array.isArray(headers[0])) {
        for (const [k, v] of headers as [string, string][]) r.setHeader(k, v);
      } else {
        for (let i = 0; i + 1 < headers.length; i += 2) r.setHeader(String(headers[i]), String(headers[i + 1]));
      }
    } else if (headers && typeof headers === 'object') {
      for (const [k, v] of Object.entries(headers as Record<string, string | number | string[]>)) {
        if (v !== undefined) r.setHeader(k, v);
      }
    }
    return r;
  };
  r['flushHeaders'] = function flushHeaders(): void {};
  r['write'] = function write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    chunks.push(chunkBytes(chunk, typeof encoding === 'function' ? undefined : encoding));
    const callback = typeof encoding === 'function' ? encoding : cb;
    if (typeof callback === 'function') queueMicrotask(() => (callback as AnyFn)());
    return true;
  };
  r['end'] = function end(chunk?: unknown, encoding?: unknown, cb?: unknown): unknown {
    let callback = cb;
    if (typeof chunk === 'function') {
      callback = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (chunk !== undefined && chunk !== null) chunks.push(chunkBytes(chunk, encoding));
    restore();
    const body = chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
    if (!r.headersSent) {
      const signed = signResponseBoth(identity, { status: r.statusCode, requestNonce: nonce, body });
      for (const [k, v] of Object.entries(signed)) r.setHeader(k, v);
      if (!isHead && r.getHeader('content-length') !== undefined) r.setHeader('content-length', String(body.length));
    }
    const args: unknown[] = [body];
    if (typeof callback === 'function') args.push(callback);
    return (r['end'] as AnyFn).apply(r, args);
  };
}

function refuse(res: AgentResponseLike, status: number, code: string, message: string, close = false): void {
  const r = res as unknown as Loose;
  if (r.headersSent) return;
  r.statusCode = status;
  r.setHeader('content-type', 'application/json');
  if (close) r.setHeader('connection', 'close');
  (r['end'] as AnyFn).call(r, JSON.stringify({ error: { code, message } }));
}

type BodyRead = { kind: 'ok'; body: Uint8Array } | { kind: 'too_large' } | { kind: 'failed'; error: unknown };

/** Reads a Node request body, stopping (and pausing the stream) once over `cap`. */
function readNodeBody(req: AgentRequestLike, cap: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let n = 0;
    const cleanup = (): void => {
      req.removeListener('data', onData as (...args: never[]) => void);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError as (...args: never[]) => void);
      req.removeListener('close', onClose);
    };
    const onData = (chunk: unknown): void => {
      const b = chunkBytes(chunk, undefined);
      n += b.length;
      if (n > cap) {
        cleanup();
        req.pause();
        resolve({ kind: 'too_large' });
        return;
      }
      chunks.push(b);
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ kind: 'ok', body: chunks.length === 1 ? chunks[0]! : concatBytes(...chunks) });
    };
    const onError = (error: unknown): void => {
      cleanup();
      resolve({ kind: 'failed', error });
    };
    const onClose = (): void => {
      cleanup();
      resolve({ kind: 'failed', error: new Error('the request was aborted') });
    };
    req.on('data', onData as (...args: never[]) => void);
    req.on('end', onEnd);
    req.on('error', onError as (...args: never[]) => void);
    req.on('close', onClose);
  });
}

/** `[name, value]` pairs of the request's headers, duplicates kept (Node joins them in `headers`). */
function headerPairs(req: AgentRequestLike): [string, string][] {
  const raw = req.rawHeaders;
  if (Array.isArray(raw)) {
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) out.push([String(raw[i]), String(raw[i + 1])]);
    return out;
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
    else if (v !== undefined) out.push([k, String(v)]);
  }
  return out;
}

/** RFC 9421's `@authority` by default: `Host` without the default port, or this agent's did:key. */
function defaultAuthority(lookup: ReturnType<typeof headerLookup>, req: AgentRequestLike, identity: Identity): string[] | undefined {
  const host = lookup.all('host') ?? lookup.all(':authority');
  if (host === undefined) return undefined;
  const tls = typeof req.socket === 'object' && req.socket !== null && (req.socket as { encrypted?: unknown }).encrypted === true;
  return [normalizeAuthority(host, tls ? 'https' : 'http'), identity.agentId];
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const t = contentType.split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
}

/**
 * The middleware: for every request, reads the body (≤ `maxBodyBytes`, else 413 `too_large`),
 * verifies the signed request for `identity` (else 401 with the node's code in
 * `{"error":{"code","message"}}`), sets `req.agentmesh = { caller, nonce, body }` (and `req.body`
 * for JSON), and signs the answer the handlers give — refusals included.
 *
 * ```ts
 * app.use(expressMiddleware(me));
 * app.post('/echo', (req, res) => res.json({ caller: req.agentmesh!.caller, got: req.body }));
 * ```
 */
export function expressMiddleware(
  identity: Identity,
  options: ExpressMiddlewareOptions = {},
): (req: AgentRequestLike, res: AgentResponseLike, next: (err?: unknown) => void) => void {
  const cache =
    options.nonceCache ??
    new NonceCache(options.refuseBeforeStart ? { refuseUntil: Math.floor(Date.now() / 1000) - 1 } : {});
  const cap = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const parseJson = options.parseJson ?? true;
  const sign = options.signResponses ?? true;

  const handle = async (
    req: AgentRequestLike,
    res: AgentResponseLike,
    next: (err?: unknown) => void,
  ): Promise<void> => {
    const pairs = headerPairs(req);
    const lookup = headerLookup(pairs);
    // The nonce refusals are signed for: the one the request claims (either form).
    const nonce = lookup.get(H_NONCE) ?? nonceOf((n) => lookup.all(n)) ?? '';
    const method = req.method ?? 'GET';
    if (sign) installSigner(res, identity, nonce, method.toUpperCase() === 'HEAD');
    const contentLength = lookup.get('content-length');
    if (declaredOver(contentLength, cap)) {
      refuse(res, 413, 'too_large', `the request body is over the ${cap}-byte limit`, true);
      return;
    }
    let body: Uint8Array;
    if (req.readableEnded) {
      // A body parser ran first: the raw bytes are gone unless it kept them.
      const kept = (req as { rawBody?: unknown }).rawBody;
      if (!(kept instanceof Uint8Array)) {
        refuse(res, 500, 'internal', 'the request body was read before expressMiddleware: mount it before body parsers');
        return;
      }
      body = kept;
    } else {
      const read = await readNodeBody(req, cap);
      if (read.kind === 'too_large') {
        refuse(res, 413, 'too_large', `the request body is over the ${cap}-byte limit`, true);
        return;
      }
      if (read.kind === 'failed') {
        refuse(res, 400, 'invalid_field', 'the request body could not be read', true);
        return;
      }
      body = read.body;
    }
    const target = req.originalUrl ?? req.url ?? '/';
    let verified;
    try {
      verified = await verifySignedRequest({
        method,
        pathAndQuery: stripBasePath(target, options.basePath),
        headers: pairs,
        body,
        me: identity,
        nonceCache: cache,
        // RFC 9421 covers the request as received: base path included.
        wire: { pathAndQuery: target, authority: options.authority ?? defaultAuthority(lookup, req, identity) },
        ...(options.clockSkew !== undefined ? { clockSkew: options.clockSkew } : {}),
      });
    } catch (e) {
      if (e instanceof HandshakeError) {
        refuse(res, 401, e.code, e.message);
        return;
      }
      throw e;
    }
    req.agentmesh = { caller: verified.caller, nonce: verified.nonce, body, forms: verified.forms };
    const r = req as unknown as Record<string, unknown>;
    if (parseJson && body.length > 0 && isJson(lookup.get('content-type'))) {
      try {
        req.body = JSON.parse(utf8(body)) as unknown;
      } catch {
        refuse(res, 400, 'invalid_json', 'the request body is not valid JSON');
        return;
      }
    }
    // body-parser 1.x skips a request marked read; 2.x sees the stream finished.
    r['_body'] = true;
    next();
  };

  return function agentmeshMiddleware(req, res, next): void {
    handle(req, res, next).catch((e: unknown) => next(e));
  };
}
