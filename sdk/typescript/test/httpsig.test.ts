/**
 * The RFC 9421 form (docs/protocol.md §4b) on its own and beside the X-Agent-* form: parsing,
 * every refusal code, the two forms agreeing, the label a verifier picks, one replay cache, and the
 * Express middleware and the fetch flavour accepting either form and signing answers in both.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  HandshakeError,
  HttpSigError,
  Identity,
  NonceCache,
  RequestTarget,
  contentDigest,
  contentDigestMatches,
  normalizeAuthority,
  nowUnix,
  parseSignature,
  signHttpRequest,
  signRequest,
  verifyFetchRequest,
  verifyResponse,
  verifySignedRequest,
  withAgentMesh,
  type VerifyRequestInput,
} from '../src/index.js';
import { agentmeshParams, inputMember, signRequestTarget, signatureMember, type Signed } from '../src/httpsig.js';
import { rawHttp, signedCall, startAgent, type RawAnswer, type TestAgent } from './agent.js';

const caller = Identity.generate();
const agent = Identity.generate();
const HOST = '127.0.0.1:8080';
const NONCE = 'bm9uY2Utbm9uY2Utbm9uY2U';

function rfcHeaders(signed: Signed[], body: string | Uint8Array, extra: Record<string, string> = {}): Record<string, string> {
  return {
    host: HOST,
    'content-digest': contentDigest(body),
    'signature-input': signed.map(inputMember).join(', '),
    signature: signed.map(signatureMember).join(', '),
    ...extra,
  };
}

/** An RFC 9421-only request to the agent at HOST. */
function rfcOnly(opts: { path?: string; body?: string; now?: number; nonce?: string; label?: string; signer?: Identity } = {}): Record<string, string> {
  const signer = opts.signer ?? caller;
  const path = opts.path ?? '/forecast?days=2';
  const body = opts.body ?? '{"city":"Paris"}';
  const params = agentmeshParams(signer, opts.now ?? nowUnix(), opts.nonce ?? NONCE + Math.random().toString(36).slice(2));
  const s = signRequestTarget(signer, opts.label ?? 'am', new RequestTarget('POST', HOST, path), body, params);
  return rfcHeaders([s], body);
}

function verify(headers: Record<string, string> | [string, string][], over: Partial<VerifyRequestInput> = {}) {
  return verifySignedRequest({
    method: 'POST',
    pathAndQuery: '/forecast?days=2',
    headers,
    body: '{"city":"Paris"}',
    me: agent,
    nonceCache: new NonceCache(),
    ...over,
  });
}

describe('RFC 9421 requests (verifySignedRequest)', () => {
  test('an RFC 9421-only request verifies: caller, nonce, form', async () => {
    const h = rfcOnly({ nonce: NONCE });
    assert.deepEqual(await verify(h), { caller: caller.agentId, nonce: NONCE, forms: ['rfc9421'] });
  });

  test('each refusal has the node’s code', async () => {
    const h = rfcOnly();
    const without = (name: string): Record<string, string> => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));
    const code = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
        return 'ok';
      } catch (e) {
        assert.ok(e instanceof HandshakeError, String(e));
        return e.code;
      }
    };
    assert.equal(await code(verify(without('signature'))), 'missing_header');
    assert.equal(await code(verify(without('content-digest'))), 'missing_header');
    assert.equal(await code(verify(without('host'))), 'missing_header');
    assert.equal(await code(verify(without('host'), { wire: { authority: HOST } })), 'ok', 'a pinned authority needs no Host');
    assert.equal(await code(verify(h, { body: '{"city":"Lyon"}' })), 'bad_signature', 'the digest does not match');
    assert.equal(await code(verify({ ...h, 'content-digest': contentDigest('{"city":"Lyon"}') }, { body: '{"city":"Lyon"}' })), 'bad_signature', 'the signature covers the digest');
    assert.equal(await code(verify({ ...h, 'content-digest': 'sha-512=:AAAA:' })), 'bad_signature');
    assert.equal(await code(verify(h, { pathAndQuery: '/forecast?days=3' })), 'bad_signature', 'the query is covered');
    assert.equal(await code(verify(h, { method: 'PUT' })), 'bad_signature', 'the method is covered');
    assert.equal(await code(verify({ ...h, host: '127.0.0.1:8081' })), 'bad_signature', 'the authority is covered');
    assert.equal(await code(verify(rfcOnly({ now: nowUnix() - 120 }))), 'stale_timestamp');
    assert.equal(await code(verify(rfcOnly({ now: nowUnix() + 120 }))), 'stale_timestamp');
    assert.equal(await code(verify(rfcOnly({ nonce: 'short' }))), 'bad_signature');
    assert.equal(await code(verify(rfcOnly({ nonce: 'n'.repeat(257) }))), 'bad_signature');
    // A keyid that is not a did:key: no candidate; an invalid did:key: refused as X-Agent-ID is.
    const stock = signRequestTarget(caller, 'sig1', new RequestTarget('POST', HOST, '/forecast?days=2'), '{"city":"Paris"}', {
      ...agentmeshParams(caller, nowUnix(), NONCE),
      keyid: 'test-key-ed25519',
    });
    assert.equal(await code(verify(rfcHeaders([stock], '{"city":"Paris"}'))), 'bad_signature');
    const weak = signRequestTarget(caller, 'am', new RequestTarget('POST', HOST, '/forecast?days=2'), '{"city":"Paris"}', {
      ...agentmeshParams(caller, nowUnix(), NONCE),
      keyid: 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT',
    });
    assert.equal(await code(verify(rfcHeaders([weak], '{"city":"Paris"}'))), 'bad_signature', 'signed by another key');
    // Expired (expires before now, created within the window).
    const expired = signRequestTarget(caller, 'am', new RequestTarget('POST', HOST, '/forecast?days=2'), '{"city":"Paris"}', {
      ...agentmeshParams(caller, nowUnix() - 30, NONCE),
      expires: nowUnix() - 1,
    });
    assert.equal(await code(verify(rfcHeaders([expired], '{"city":"Paris"}'))), 'stale_timestamp');
  });

  test('what a signature must cover, and component parameters', async () => {
    const body = '{"city":"Paris"}';
    const params = agentmeshParams(caller, nowUnix(), NONCE);
    const t = new RequestTarget('POST', HOST, '/forecast?days=2');
    const { signComponents } = await import('../src/httpsig.js');
    const partial = signComponents(caller, 'am', ['@method', '@authority', '@path', 'content-digest'], ['POST', HOST, '/forecast', contentDigest(body)], params);
    await assert.rejects(verify(rfcHeaders([partial], body)), (e: unknown) => e instanceof HandshakeError && e.code === 'bad_signature' && /must cover/.test(e.message));
    // More is fine: a header and @request-target.
    const more = signComponents(
      caller,
      'am',
      ['@method', '@authority', '@path', '@query', 'content-digest', 'content-type', '@request-target'],
      ['POST', HOST, '/forecast', '?days=2', contentDigest(body), 'application/json', '/forecast?days=2'],
      params,
    );
    assert.deepEqual((await verify(rfcHeaders([more], body, { 'content-type': 'application/json' }))).forms, ['rfc9421']);
    // A covered header that is absent, or a component parameter, is refused.
    await assert.rejects(verify(rfcHeaders([more], body)), (e: unknown) => e instanceof HandshakeError && /absent/.test(e.message));
    const keyed = signComponents(caller, 'am', [...['@method', '@authority', '@path', '@query', 'content-digest'], 'x;key=a'], ['POST', HOST, '/forecast', '?days=2', contentDigest(body), '1'], params);
    await assert.rejects(verify(rfcHeaders([keyed], body, { x: 'a=1' })), (e: unknown) => e instanceof HandshakeError && /not supported/.test(e.message));
    void t;
  });

  test('which signature is checked: am, else the only did:key one that is not am-agent', async () => {
    const body = '{"city":"Paris"}';
    const now = nowUnix();
    const t = new RequestTarget('POST', HOST, '/forecast?days=2');
    const params = agentmeshParams(caller, now, NONCE);
    const sig1 = signRequestTarget(caller, 'sig1', t, body, params);
    assert.deepEqual((await verify(rfcHeaders([sig1], body))).forms, ['rfc9421'], 'a stock label');
    const other = signRequestTarget(caller, 'sig2', t, body, params);
    await assert.rejects(verify(rfcHeaders([sig1, other], body)), (e: unknown) => e instanceof HandshakeError && /several/.test(e.message));
    const am = signRequestTarget(caller, 'am', t, body, params);
    assert.deepEqual((await verify(rfcHeaders([sig1, am, other], body))).forms, ['rfc9421'], 'am wins');
    const agentOnly = signRequestTarget(caller, 'am-agent', t, body, params);
    await assert.rejects(verify(rfcHeaders([agentOnly], body)), { code: 'bad_signature' });
    // A bad am is not rescued by a good sig1.
    const badAm = signRequestTarget(caller, 'am', new RequestTarget('POST', HOST, '/elsewhere'), body, params);
    await assert.rejects(verify(rfcHeaders([badAm, sig1], body)), { code: 'bad_signature' });
    // Signature-Input split over two field lines reads as one (RFC 9110 §5.3).
    const h = rfcHeaders([sig1, am], body);
    const pairs: [string, string][] = [
      ['host', HOST],
      ['content-digest', h['content-digest']!],
      ['signature-input', inputMember(sig1)],
      ['signature-input', inputMember(am)],
      ['signature', signatureMember(am)],
      ['signature', signatureMember(sig1)],
    ];
    assert.deepEqual((await verify(pairs)).forms, ['rfc9421']);
  });

  test('both forms: each must hold, and they must agree on caller, nonce and time', async () => {
    const body = '{"city":"Paris"}';
    const now = nowUnix();
    const url = `http://${HOST}/forecast?days=2`;
    const both = signHttpRequest(caller, { target: agent.agentId, method: 'POST', url, body, timestamp: now, nonce: NONCE }) as Record<string, string>;
    assert.deepEqual((await verify({ ...both, host: HOST })).forms, ['x-agent', 'rfc9421']);
    const x = signRequest(caller, { target: agent.agentId, method: 'POST', pathAndQuery: '/forecast?days=2', body, timestamp: now, nonce: NONCE });
    const disagree = async (rfc: Record<string, string>, xh: Record<string, string>, why: string): Promise<void> => {
      await assert.rejects(verify({ ...rfc, ...xh }), (e: unknown) => e instanceof HandshakeError && e.code === 'bad_signature' && /disagree/.test(e.message), why);
    };
    await disagree(rfcOnly({ nonce: NONCE + 'x', now }), x, 'nonce');
    await disagree(rfcOnly({ nonce: NONCE, now: now - 1 }), x, 'created');
    await disagree(rfcOnly({ nonce: NONCE, now, signer: Identity.generate() }), x, 'keyid');
    // A bad X-Agent-* form fails the request although the RFC 9421 one holds, and the other way.
    await assert.rejects(verify({ ...both, host: HOST, 'x-agent-target': caller.agentId }), { code: 'wrong_target' });
    await assert.rejects(verify({ ...both, host: '127.0.0.1:1' }), { code: 'bad_signature' });
  });

  test('one replay cache for both forms; a failed verification burns no nonce', async () => {
    const cache = new NonceCache();
    const body = '{"city":"Paris"}';
    const now = nowUnix();
    const x = signRequest(caller, { target: agent.agentId, method: 'POST', pathAndQuery: '/forecast?days=2', body, timestamp: now, nonce: NONCE });
    const rfc = rfcOnly({ nonce: NONCE, now });
    await assert.rejects(verify(rfc, { nonceCache: cache, body: 'tampered' }), { code: 'bad_signature' });
    assert.equal(cache.size, 0);
    assert.deepEqual((await verify(rfc, { nonceCache: cache })).forms, ['rfc9421']);
    await assert.rejects(verify(rfc, { nonceCache: cache }), { code: 'replayed_nonce' });
    await assert.rejects(verify(x, { nonceCache: cache }), { code: 'replayed_nonce' }, 'the same nonce in the other form');
    await assert.rejects(verify({ ...rfc, ...x }, { nonceCache: cache }), { code: 'replayed_nonce' });
  });

  test('garbage is refused with a code, never a crash', async () => {
    const t = new RequestTarget('GET', 'h', '/');
    const cases: [string, string][] = [
      ['', ''],
      ['am', 'am'],
      ['am=("@method")', 'am=:AAAA:'],
      ['am=("@method");created=1;keyid="did:key:z6Mk"', 'am=:AAAA:'],
      ['am=("@method";sf);created=1;keyid="x"', 'am=:AAAA:'],
      ['am=("@method" "@method");created=1;keyid="x"', 'am=:AAAA:'],
      ['am=("@target-uri");created=1;keyid="x"', 'am=:AAAA:'],
      ['am=("X-Upper");created=1;keyid="x"', 'am=:AAAA:'],
      ['am=("absent");created=1;keyid="x"', 'am=:AAAA:'],
      ['am=();created="1";keyid="x"', 'am=:AAAA:'],
      ['am=();created=1;keyid="x";alg="rsa-pss-sha512"', 'am=:AAAA:'],
      ['am=();created=1', 'am=:AAAA:'],
      ['am=();created=1;keyid="x"', 'am=1'],
      ['x=();created=1;keyid="did:key:a", y=();created=1;keyid="did:key:b"', ''],
      ['am=();created=1;keyid=tok', 'am=:AAAA:'],
      ['am=(("nested"));created=1;keyid="x"', 'am=:AAAA:'],
      [`am=(${'"a" '.repeat(5000)})`, 'am=:AAAA:'],
    ];
    for (const [input, sig] of cases) {
      const fields: Record<string, string> = { 'signature-input': input, signature: sig };
      // Everything fails to parse but the one with a bad did:key, which fails its check.
      if (!input.includes('"did:key:z6Mk"')) {
        assert.throws(() => parseSignature((n) => fields[n], (c) => t.value(c), 'agentmesh'), HttpSigError, input.slice(0, 60));
      }
      await assert.rejects(verify({ ...fields, host: HOST, 'content-digest': contentDigest('') }), HandshakeError, input.slice(0, 60));
    }
    assert.throws(() => contentDigestMatches('sha-512=:AAAA:', ''), HttpSigError);
    assert.throws(() => contentDigestMatches('((', ''), HttpSigError);
    assert.equal(contentDigestMatches(`md5=:AAAA:, ${contentDigest('x')}`, 'x'), true);
  });

  test('normalizeAuthority: lowercase, no default port', () => {
    assert.equal(normalizeAuthority('Agent.Example:80', 'http'), 'agent.example');
    assert.equal(normalizeAuthority('agent.example:443', 'https:'), 'agent.example');
    assert.equal(normalizeAuthority('agent.example:443', 'http'), 'agent.example:443');
    assert.equal(normalizeAuthority('[::1]:80', 'http'), '[::1]');
    assert.equal(normalizeAuthority('h:8080'), 'h:8080');
  });

  test('RequestTarget.ofUrl: the authority as a client writes Host', () => {
    const t = RequestTarget.ofUrl('post', 'http://User@Agent.Example:80/base/f?x=1#frag')!;
    assert.deepEqual([t.method, t.authority, t.path, t.query], ['POST', 'agent.example', '/base/f', 'x=1']);
    assert.equal(RequestTarget.ofUrl('GET', 'https://h:443')!.value('@path'), '/');
    assert.equal(RequestTarget.ofUrl('GET', 'https://h:8443?')!.value('@query'), '?');
    assert.equal(RequestTarget.ofUrl('GET', 'https://h:8443')!.value('@query'), '?');
    assert.equal(RequestTarget.ofUrl('GET', 'https://[::1]:443/x')!.authority, '[::1]');
    assert.equal(RequestTarget.ofUrl('GET', 'ws://h/x'), undefined);
    assert.equal(RequestTarget.ofUrl('GET', 'http:///x'), undefined);
  });
});

describe('expressMiddleware and the fetch flavour speak RFC 9421', () => {
  let a: TestAgent;
  before(async () => (a = await startAgent(Identity.generate())));
  after(() => a.close());

  async function assertBothSigned(agentId: string, r: RawAnswer): Promise<void> {
    assert.ok(r.headers.get('x-agent-signature'), 'X-Agent-* answer');
    assert.match(r.headers.get('signature-input') ?? '', /^am=\("@status" "content-digest"\);created=\d+;keyid="did:key:z6Mk[^"]+";alg="ed25519";expires=\d+;nonce="[^"]*";tag="agentmesh"$/);
    await verifyResponse({ agentId, status: r.status, requestNonce: r.nonce, headers: r.headers, body: r.body });
    // Each form alone verifies too.
    const only = (keep: (k: string) => boolean): Headers => {
      const out = new Headers();
      r.headers.forEach((value, k) => {
        if (keep(k)) out.set(k, value);
      });
      return out;
    };
    await verifyResponse({ agentId, status: r.status, requestNonce: r.nonce, headers: only((k) => !k.startsWith('x-agent-')), body: r.body });
    await verifyResponse({ agentId, status: r.status, requestNonce: r.nonce, headers: only((k) => !['signature', 'signature-input'].includes(k)), body: r.body });
  }

  test('RFC 9421 only, both forms: accepted; answers signed in both forms', async () => {
    for (const forms of ['rfc9421', 'both'] as const) {
      const r = await signedCall(a.url, caller, a.identity.agentId, { path: '/echo?x=1', body: '{"a":1}', forms });
      assert.equal(r.status, 200, `${forms}: ${r.text}`);
      assert.deepEqual(JSON.parse(r.text), { caller: caller.agentId, got: { a: 1 }, query: { x: '1' } });
      await assertBothSigned(a.identity.agentId, r);
    }
  });

  test('refusals of the RFC 9421 form: the node’s codes, signed for the nonce it claimed', async () => {
    const stale = await signedCall(a.url, caller, a.identity.agentId, { path: '/hello', forms: 'rfc9421', timestamp: nowUnix() - 600 });
    assert.equal(stale.status, 401);
    assert.equal((JSON.parse(stale.text) as { error: { code: string } }).error.code, 'stale_timestamp');
    assert.ok(stale.nonce.length >= 16);
    await assertBothSigned(a.identity.agentId, stale);
    const tampered = await signedCall(a.url, caller, a.identity.agentId, { path: '/echo', body: '{"amount":1000}', signedBody: '{"amount":1}', forms: 'rfc9421' });
    assert.equal(tampered.status, 401);
    assert.equal((JSON.parse(tampered.text) as { error: { code: string } }).error.code, 'bad_signature');
    const moved = await signedCall(a.url, caller, a.identity.agentId, { path: '/echo?to=mallory', body: '{}', signedPath: '/echo?to=alice', forms: 'rfc9421' });
    assert.equal(moved.status, 401);
    const nonce = 'cmVwbGF5LXJlcGxheS1yZXBsYXktcmZj';
    const first = await signedCall(a.url, caller, a.identity.agentId, { path: '/hello', forms: 'rfc9421', nonce });
    assert.equal(first.status, 200);
    const again = await signedCall(a.url, caller, a.identity.agentId, { path: '/hello', forms: 'x-agent', nonce });
    assert.equal((JSON.parse(again.text) as { error: { code: string } }).error.code, 'replayed_nonce');
  });

  test('a Host with the default port (as the node’s gateway writes it for http://h:80 endpoints) verifies', async () => {
    const s = signHttpRequest(caller, { target: a.identity.agentId, method: 'GET', url: 'http://127.0.0.1/hello', forms: 'rfc9421' }) as Record<string, string>;
    const lines = Object.entries(s).map(([k, v]) => `${k}: ${v}`);
    const raw = await rawHttp(a.port, `GET /hello HTTP/1.1\r\nhost: 127.0.0.1:80\r\nconnection: close\r\n${lines.join('\r\n')}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 200/, raw.slice(0, 300));
  });

  test('basePath: RFC 9421 covers the path as received, base path included; authority pins @authority', async () => {
    const b = await startAgent(Identity.generate(), { basePath: '/agent' }, '/agent');
    try {
      const r = await signedCall(b.url, caller, b.identity.agentId, { path: '/hello', forms: 'both' });
      assert.equal(r.status, 200, r.text);
      const rfc = await signedCall(b.url, caller, b.identity.agentId, { path: '/hello', forms: 'rfc9421' });
      assert.equal(rfc.status, 200, rfc.text);
    } finally {
      await b.close();
    }
    const c = await startAgent(Identity.generate(), { authority: 'agent.example' });
    try {
      const atHost = await signedCall(c.url, caller, c.identity.agentId, { path: '/hello', forms: 'rfc9421' });
      assert.equal(atHost.status, 401, 'signed for 127.0.0.1:port, pinned to agent.example');
      // Signed for the public authority, sent to the local port (as behind a reverse proxy).
      const s = signHttpRequest(caller, { target: c.identity.agentId, method: 'GET', url: 'https://agent.example/hello', forms: 'rfc9421' });
      const res = await fetch(c.url + '/hello', { headers: s as Record<string, string> });
      assert.equal(res.status, 200, await res.text());
    } finally {
      await c.close();
    }
  });

  test('verifyFetchRequest and withAgentMesh: either form; Host, else the URL’s authority', async () => {
    const me = Identity.generate();
    const cache = new NonceCache();
    const mk = (url: string, forms: 'rfc9421' | 'both', headers: Record<string, string> = {}, pathAndQuery?: string): Request => {
      const s = signHttpRequest(caller, { target: me.agentId, method: 'POST', url, body: '{"k":2}', forms, ...(pathAndQuery ? { pathAndQuery } : {}) });
      return new Request(url, { method: 'POST', headers: { ...(s as Record<string, string>), ...headers }, body: '{"k":2}' });
    };
    const v = await verifyFetchRequest(mk('http://127.0.0.1:8080/forecast?days=2', 'rfc9421'), me, { nonceCache: cache });
    assert.deepEqual([v.caller, v.forms, v.json()], [caller.agentId, ['rfc9421'], { k: 2 }]);
    const w = await verifyFetchRequest(mk('http://127.0.0.1:8080/x', 'both'), me, { nonceCache: cache });
    assert.deepEqual(w.forms, ['x-agent', 'rfc9421']);
    // A proxy-facing host in the URL, the agent's own in Host: Host wins.
    await assert.rejects(verifyFetchRequest(mk('http://public.example/x', 'rfc9421', { host: '127.0.0.1:8080' }), me, { nonceCache: cache }), {
      code: 'bad_signature',
    });
    // Signed for /agent/x at an agent whose base path is /agent: RFC 9421 covers it as received.
    // (X-Agent-* signs the path relative to the endpoint, /x.)
    const based = await verifyFetchRequest(mk('http://127.0.0.1:8080/agent/x', 'both', {}, '/x'), me, { nonceCache: cache, basePath: '/agent' });
    assert.deepEqual(based.forms, ['x-agent', 'rfc9421']);
    const handler = withAgentMesh(me, (_r, { caller: who, forms }) => Response.json({ who, forms }));
    const req = mk('http://127.0.0.1:8080/echo', 'rfc9421');
    const claimed = (req.headers.get('signature-input') ?? '').match(/nonce="([^"]+)"/)![1]!;
    const res = await handler(req);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(body)), { who: caller.agentId, forms: ['rfc9421'] });
    await verifyResponse({ agentId: me.agentId, status: 200, requestNonce: claimed, headers: res.headers, body });
    assert.ok(res.headers.get('signature-input') && res.headers.get('x-agent-signature'));
  });
});
