/** A test agent on Express with the middleware, and a raw signed-call helper. */

import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Server } from 'node:http';

import express from 'express';

import { Identity, expressMiddleware, signHttpRequest, nonceOf, type ExpressMiddlewareOptions, type SignForms } from '../src/index.js';

export interface TestAgent {
  identity: Identity;
  url: string;
  port: number;
  /** Requests the handlers saw (after verification). */
  seen: { caller: string; path: string; body: unknown }[];
  /** The signature forms and headers of those requests, in the same order. */
  signedWith: { forms: readonly string[]; headers: Record<string, string> }[];
  close(): Promise<void>;
}

/** Starts an Express agent on 127.0.0.1 (a free port) with a few routes. */
export async function startAgent(identity: Identity, options: ExpressMiddlewareOptions = {}, mount = ''): Promise<TestAgent> {
  const app = express();
  app.set('env', 'test'); // no stack traces of the /fail route on stderr
  const seen: TestAgent['seen'] = [];
  const signedWith: TestAgent['signedWith'] = [];
  const router = express.Router();
  router.use(expressMiddleware(identity, options));
  router.use(express.json()); // after the middleware: it sees the body read and skips
  router.use((req, _res, next) => {
    seen.push({ caller: req.agentmesh!.caller, path: req.originalUrl, body: req.body as unknown });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    signedWith.push({ forms: req.agentmesh!.forms ?? [], headers });
    next();
  });
  router.get('/hello', (req, res) => {
    res.json({ hello: req.agentmesh!.caller });
  });
  router.post('/echo', (req, res) => {
    res.json({ caller: req.agentmesh!.caller, got: req.body as unknown, query: req.query });
  });
  router.get('/', (req, res) => {
    res.json({ root: true, caller: req.agentmesh!.caller });
  });
  router.get('/stream', (_req, res) => {
    res.writeHead(201, { 'content-type': 'text/plain', 'x-extra': 'yes' });
    res.write('one,');
    res.write(Buffer.from('two,'));
    res.end('three');
  });
  router.get('/fail', () => {
    throw new Error('boom');
  });
  router.all('/any', (req, res) => {
    res.status(202).send(`${req.method} ${req.agentmesh!.body.length}`);
  });
  if (mount) app.use(mount, router);
  else app.use(router);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    identity,
    port,
    url: `http://127.0.0.1:${port}${mount}`,
    seen,
    signedWith,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  text: string;
  nonce: string;
}

/** A signed call with fetch, with knobs to break it: sign for another target/time/body/path. */
export async function signedCall(
  base: string,
  caller: Identity,
  target: string,
  opts: {
    method?: string;
    path?: string;
    body?: string;
    signedBody?: string;
    signedPath?: string;
    timestamp?: number;
    nonce?: string;
    headers?: Record<string, string>;
    drop?: string;
    /** Which forms to sign in (default `x-agent`, what these tests were written for). */
    forms?: SignForms;
  } = {},
): Promise<RawAnswer> {
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  const path = opts.path ?? '/';
  const url = path === '/' ? base : base.replace(/\/$/, '') + path;
  const signedPath = opts.signedPath ?? path;
  const signedUrl = signedPath === '/' ? base : base.replace(/\/$/, '') + signedPath;
  const signed = signHttpRequest(caller, {
    target,
    method,
    url: signedUrl,
    pathAndQuery: signedPath,
    body: opts.signedBody ?? opts.body ?? '',
    forms: opts.forms ?? 'x-agent',
    ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}),
    ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
  });
  const headers: Record<string, string> = { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(signed as Record<string, string>), ...opts.headers };
  if (opts.drop) delete headers[opts.drop];
  const res = await fetch(url, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}), signal: AbortSignal.timeout(15_000) });
  const body = new Uint8Array(await res.arrayBuffer());
  const nonce = headers['x-agent-nonce'] ?? nonceOf((n) => headers[n]) ?? '';
  return { status: res.status, headers: res.headers, body, text: new TextDecoder().decode(body), nonce };
}

/** Sends raw bytes over TCP to 127.0.0.1:port and returns the raw answer (for duplicate headers). */
export function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(10_000, () => {
      sock.destroy();
      resolve(out);
    });
    sock.write(request);
  });
}
