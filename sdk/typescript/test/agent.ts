/** A test agent on Express with the middleware, and a raw signed-call helper. */

import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Server } from 'node:http';

import express from 'express';

import { Identity, expressMiddleware, signRequest, type ExpressMiddlewareOptions } from '../src/index.js';

export interface TestAgent {
  identity: Identity;
  url: string;
  port: number;
  /** Requests the handlers saw (after verification). */
  seen: { caller: string; path: string; body: unknown }[];
  close(): Promise<void>;
}

/** Starts an Express agent on 127.0.0.1 (a free port) with a few routes. */
export async function startAgent(identity: Identity, options: ExpressMiddlewareOptions = {}, mount = ''): Promise<TestAgent> {
  const app = express();
  app.set('env', 'test'); // no stack traces of the /fail route on stderr
  const seen: TestAgent['seen'] = [];
  const router = express.Router();
  router.use(expressMiddleware(identity, options));
  router.use(express.json()); // after the middleware: it sees the body read and skips
  router.use((req, _res, next) => {
    seen.push({ caller: req.agentmesh!.caller, path: req.originalUrl, body: req.body as unknown });
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
  } = {},
): Promise<RawAnswer> {
  const method = opts.method ?? (opts.body !== undefined ? 'POST' : 'GET');
  const path = opts.path ?? '/';
  const signed = signRequest(caller, {
    target,
    method,
    pathAndQuery: opts.signedPath ?? path,
    body: opts.signedBody ?? opts.body ?? '',
    ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}),
    ...(opts.nonce !== undefined ? { nonce: opts.nonce } : {}),
  });
  const headers: Record<string, string> = { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...signed, ...opts.headers };
  if (opts.drop) delete headers[opts.drop];
  const url = path === '/' ? base : base.replace(/\/$/, '') + path;
  const res = await fetch(url, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}), signal: AbortSignal.timeout(15_000) });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: new TextDecoder().decode(body), nonce: opts.drop === 'x-agent-nonce' ? '' : signed['x-agent-nonce'] };
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
