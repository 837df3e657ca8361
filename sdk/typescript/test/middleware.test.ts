/**
 * The Express middleware on a real server (127.0.0.1, a free port): it verifies callers, refuses
 * with the node's codes and error shape, caps bodies, and signs every answer. Also the fetch
 * (web-standard Request/Response) flavour.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import express from 'express';

import {
  Identity,
  NonceCache,
  signRequest,
  verifyFetchRequest,
  verifyResponse,
  withAgentMesh,
  expressMiddleware,
  nowUnix,
} from '../src/index.js';
import { rawHttp, signedCall, startAgent, type RawAnswer, type TestAgent } from './agent.js';

const caller = Identity.generate();

async function assertSigned(agentId: string, a: RawAnswer): Promise<void> {
  await verifyResponse({ agentId, status: a.status, requestNonce: a.nonce, headers: a.headers, body: a.body });
}

function errorCode(a: RawAnswer): string {
  const v = JSON.parse(a.text) as { error: { code: string; message: string } };
  assert.equal(typeof v.error.message, 'string');
  assert.deepEqual(Object.keys(v), ['error']);
  return v.error.code;
}

describe('expressMiddleware', () => {
  let agent: TestAgent;
  before(async () => (agent = await startAgent(Identity.generate(), { maxBodyBytes: 4096 })));
  after(() => agent.close());
  const call = (opts: Parameters<typeof signedCall>[3] = {}, target?: string): Promise<RawAnswer> =>
    signedCall(agent.url, caller, target ?? agent.identity.agentId, opts);

  test('a signed call is verified, the caller exposed, the answer signed', async () => {
    const a = await call({ path: '/hello' });
    assert.equal(a.status, 200);
    assert.deepEqual(JSON.parse(a.text), { hello: caller.agentId });
    await assertSigned(agent.identity.agentId, a);
    const e = await call({ path: '/echo?x=1&y=%2F', body: '{"a":[1,2]}' });
    assert.equal(e.status, 200);
    assert.deepEqual(JSON.parse(e.text), { caller: caller.agentId, got: { a: [1, 2] }, query: { x: '1', y: '/' } });
    await assertSigned(agent.identity.agentId, e);
  });

  test('a replay is refused: 401 replayed_nonce, signed, in the node’s shape', async () => {
    const nonce = 'cmVwbGF5LXJlcGxheS1yZXBsYXk';
    const first = await call({ path: '/hello', nonce });
    assert.equal(first.status, 200);
    const again = await call({ path: '/hello', nonce, timestamp: Number(first.headers.get('x-agent-timestamp') ?? nowUnix()) });
    assert.equal(again.status, 401);
    assert.equal(errorCode(again), 'replayed_nonce');
    await assertSigned(agent.identity.agentId, again);
  });

  test('a wrong target is refused: wrong_target', async () => {
    const a = await call({ path: '/hello' }, Identity.generate().agentId);
    assert.equal(a.status, 401);
    assert.equal(errorCode(a), 'wrong_target');
    await assertSigned(agent.identity.agentId, a);
  });

  test('a tampered body, path or method is refused: bad_signature', async () => {
    const body = await call({ path: '/echo', body: '{"amount":1000}', signedBody: '{"amount":1}' });
    assert.equal(body.status, 401);
    assert.equal(errorCode(body), 'bad_signature');
    await assertSigned(agent.identity.agentId, body);
    const path = await call({ path: '/echo?to=mallory', body: '{}', signedPath: '/echo?to=alice' });
    assert.equal(errorCode(path), 'bad_signature');
  });

  test('stale timestamps are refused: stale_timestamp (both directions)', async () => {
    for (const skew of [-120, 120]) {
      const a = await call({ path: '/hello', timestamp: nowUnix() + skew });
      assert.equal(a.status, 401);
      assert.equal(errorCode(a), 'stale_timestamp');
      await assertSigned(agent.identity.agentId, a);
    }
  });

  test('a missing header is refused: missing_header', async () => {
    for (const h of ['x-agent-id', 'x-agent-target', 'x-agent-timestamp', 'x-agent-nonce', 'x-agent-signature']) {
      const a = await call({ path: '/hello', drop: h });
      assert.equal(a.status, 401, h);
      assert.equal(errorCode(a), 'missing_header', h);
    }
  });

  test('an unsigned request never reaches the handlers', async () => {
    const before = agent.seen.length;
    const res = await fetch(agent.url + '/hello');
    assert.equal(res.status, 401);
    assert.equal(agent.seen.length, before);
  });

  test('a header sent twice is refused: bad_signature', async () => {
    const s = signRequest(caller, { target: agent.identity.agentId, method: 'GET', pathAndQuery: '/hello' });
    const lines = Object.entries(s).map(([k, v]) => `${k}: ${v}`);
    const raw = await rawHttp(
      agent.port,
      `GET /hello HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${lines.join('\r\n')}\r\nx-agent-nonce: ${s['x-agent-nonce']}\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 401/);
    assert.match(raw, /"code":"bad_signature"/);
    assert.match(raw, /more than once/);
  });

  test('bodies over the cap answer 413 too_large (declared or streamed)', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(5000) });
    const a = await call({ path: '/echo', body: big });
    assert.equal(a.status, 413);
    assert.equal(errorCode(a), 'too_large');
    await assertSigned(agent.identity.agentId, a);
    // Chunked, no Content-Length: refused once the count passes the cap.
    const s = signRequest(caller, { target: agent.identity.agentId, method: 'POST', pathAndQuery: '/echo', body: big });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(big);
        for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.subarray(i, i + 1000));
        c.close();
      },
    });
    const res = await fetch(agent.url + '/echo', {
      method: 'POST',
      headers: { ...s, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'too_large');
  });

  test('garbage headers get a code, and the agent keeps serving', async () => {
    const cases: Record<string, string>[] = [
      { 'x-agent-id': 'did:key:z' + 'Q'.repeat(5000) },
      { 'x-agent-id': 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' },
      { 'x-agent-timestamp': '99999999999999999999999999' },
      { 'x-agent-nonce': '%%%' },
      { 'x-agent-signature': '' },
    ];
    for (const headers of cases) {
      const a = await call({ path: '/hello', headers });
      assert.equal(a.status, 401, JSON.stringify(headers).slice(0, 50));
    }
    assert.equal((await call({ path: '/hello' })).status, 200);
  });

  test('writeHead + write + end, Buffers and strings: one signed answer', async () => {
    const a = await call({ path: '/stream' });
    assert.equal(a.status, 201);
    assert.equal(a.text, 'one,two,three');
    assert.equal(a.headers.get('x-extra'), 'yes');
    await assertSigned(agent.identity.agentId, a);
  });

  test('errors in handlers come back signed', async () => {
    const a = await call({ path: '/fail' });
    assert.equal(a.status, 500);
    await assertSigned(agent.identity.agentId, a);
  });

  test('any method; HEAD answers are signed over the empty body', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const a = await call({ method, path: '/any', body: '{"k":1}' });
      assert.equal(a.status, 202, method);
      assert.equal(a.text, `${method} 7`);
      await assertSigned(agent.identity.agentId, a);
    }
    const head = await call({ method: 'HEAD', path: '/hello' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    await assertSigned(agent.identity.agentId, head);
  });

  test('a malformed JSON body (signed) answers 400 invalid_json', async () => {
    const a = await call({ path: '/echo', body: '{"a":' });
    assert.equal(a.status, 400);
    assert.equal(errorCode(a), 'invalid_json');
  });
});

describe('expressMiddleware options', () => {
  test('basePath: an agent whose endpoint has a path verifies the path the caller signed', async () => {
    const agent = await startAgent(Identity.generate(), { basePath: '/agent' }, '/agent');
    try {
      // The gateway calls <endpoint> + <signed path>; the root is the endpoint itself.
      const a = await signedCall(agent.url, caller, agent.identity.agentId, { path: '/hello' });
      assert.equal(a.status, 200);
      const root = await signedCall(agent.url, caller, agent.identity.agentId, { path: '/' });
      assert.equal(root.status, 200, root.text);
      assert.deepEqual(JSON.parse(root.text), { root: true, caller: caller.agentId });
    } finally {
      await agent.close();
    }
  });

  test('refuseBeforeStart refuses requests signed before the middleware started', async () => {
    const agent = await startAgent(Identity.generate(), { refuseBeforeStart: true });
    try {
      const a = await signedCall(agent.url, caller, agent.identity.agentId, { path: '/hello', timestamp: nowUnix() - 5 });
      assert.equal(a.status, 401);
      assert.equal(errorCode(a), 'stale_timestamp');
    } finally {
      await agent.close();
    }
  });

  test('mounted after a body parser: a clear 500, not a hang', async () => {
    const me = Identity.generate();
    const app = express();
    app.use(express.json());
    app.use(expressMiddleware(me));
    app.post('/x', (_req, res) => res.json({}));
    const server = await new Promise<import('node:http').Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    try {
      const port = (server.address() as import('node:net').AddressInfo).port;
      const a = await signedCall(`http://127.0.0.1:${port}`, caller, me.agentId, { path: '/x', body: '{"a":1}' });
      assert.equal(a.status, 500);
      assert.match(errorCode(a), /internal/);
      assert.match(a.text, /before body parsers/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('fetch (web-standard Request/Response)', () => {
  const me = Identity.generate();
  const req = (path: string, init: { method?: string; body?: string; sign?: Partial<Parameters<typeof signRequest>[1]> } = {}): Request => {
    const method = init.method ?? (init.body ? 'POST' : 'GET');
    const s = signRequest(caller, { target: me.agentId, method, pathAndQuery: path, body: init.body ?? '', ...init.sign });
    return new Request(`http://127.0.0.1:8080${path}`, { method, headers: s, ...(init.body ? { body: init.body } : {}) });
  };

  test('verifyFetchRequest: caller, body, and each code', async () => {
    const cache = new NonceCache();
    const r = req('/forecast?days=2', { body: '{"city":"Paris"}' });
    const replay = r.clone();
    const v = await verifyFetchRequest(r, me, { nonceCache: cache });
    assert.equal(v.caller, caller.agentId);
    assert.deepEqual(v.json(), { city: 'Paris' });
    await assert.rejects(verifyFetchRequest(replay, me, { nonceCache: cache }), { code: 'replayed_nonce', status: 401 });
    await assert.rejects(verifyFetchRequest(req('/x'), Identity.generate(), { nonceCache: cache }), { code: 'wrong_target' });
    await assert.rejects(verifyFetchRequest(req('/x', { sign: { timestamp: nowUnix() - 3600 } }), me, { nonceCache: cache }), {
      code: 'stale_timestamp',
    });
    await assert.rejects(verifyFetchRequest(req('/x', { body: '{}', sign: { body: '[]' } }), me, { nonceCache: cache }), {
      code: 'bad_signature',
    });
    await assert.rejects(verifyFetchRequest(new Request('http://127.0.0.1/x'), me, { nonceCache: cache }), { code: 'missing_header' });
    await assert.rejects(verifyFetchRequest(req('/big', { body: 'x'.repeat(2000) }), me, { nonceCache: cache, maxBodyBytes: 1000 }), {
      code: 'too_large',
      status: 413,
    });
    // Signed for `/x`, received at `/agent/x`: only with the base path stripped.
    const signedX = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x' });
    const atBase = (): Request => new Request('http://127.0.0.1:8080/agent/x', { headers: signedX });
    await assert.rejects(verifyFetchRequest(atBase(), me, { nonceCache: cache }), { code: 'bad_signature' });
    assert.equal((await verifyFetchRequest(atBase(), me, { nonceCache: cache, basePath: '/agent' })).caller, caller.agentId);
  });

  test('withAgentMesh: verified handler, signed answers, signed refusals', async () => {
    const handler = withAgentMesh(me, (_r, { caller: who, json }) => Response.json({ who, got: json() }));
    const r = req('/echo', { body: '{"a":1}' });
    const nonce = r.headers.get('x-agent-nonce')!;
    const res = await handler(r);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200);
    await verifyResponse({ agentId: me.agentId, status: 200, requestNonce: nonce, headers: res.headers, body });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(body)), { who: caller.agentId, got: { a: 1 } });
    const bad = req('/echo', { body: '{"a":2}', sign: { body: '{"a":1}' } });
    const refused = await handler(bad);
    const rb = new Uint8Array(await refused.arrayBuffer());
    assert.equal(refused.status, 401);
    assert.equal((JSON.parse(new TextDecoder().decode(rb)) as { error: { code: string } }).error.code, 'bad_signature');
    await verifyResponse({
      agentId: me.agentId,
      status: 401,
      requestNonce: bad.headers.get('x-agent-nonce')!,
      headers: refused.headers,
      body: rb,
    });
    const empty = await withAgentMesh(me, () => new Response(null, { status: 204 }))(req('/none'));
    assert.equal(empty.status, 204);
    assert.ok(empty.headers.get('x-agent-signature'));
  });
});
