/** The handshake (docs/protocol.md §4): each refusal has its code, in the node's order. */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  HandshakeError,
  Identity,
  NonceCache,
  SIGNED_REQUEST_HEADERS,
  headerLookup,
  signRequest,
  signResponse,
  verifyRequest,
  verifyResponse,
  type HeadersLike,
} from '../src/index.js';

const caller = Identity.generate();
const me = Identity.generate();
const NOW = 1_800_000_000;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof HandshakeError) return e.code;
    throw e;
  }
}

function verify(headers: HeadersLike, over: Partial<Parameters<typeof verifyRequest>[0]> = {}, cache = new NonceCache()): Promise<string> {
  return verifyRequest({ method: 'GET', pathAndQuery: '/x', headers, body: '', me, nonceCache: cache, now: NOW, ...over });
}

test('each rejection has its code', async () => {
  const cache = new NonceCache();
  const ok = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  assert.equal(await verify(ok, {}, cache), caller.agentId);
  assert.equal(await code(verify(ok, {}, cache)), 'replayed_nonce');
  const fresh = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  assert.equal(await code(verify(fresh, { pathAndQuery: '/y' }, cache)), 'bad_signature', 'path is signed');
  assert.equal(await code(verify(fresh, { body: 'tampered' }, cache)), 'bad_signature', 'body is signed');
  assert.equal(await code(verify(fresh, { method: 'POST' }, cache)), 'bad_signature', 'method is signed');
  assert.equal(await code(verify(fresh, { now: NOW + 61 }, cache)), 'stale_timestamp');
  assert.equal(await code(verify(fresh, { now: NOW - 61 }, cache)), 'stale_timestamp');
  assert.equal(await code(verify(fresh, { now: NOW + 61, clockSkew: 120 }, new NonceCache())), 'ok', 'configurable skew');
  const other = signRequest(caller, { target: Identity.generate().agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  assert.equal(await code(verify(other, {}, cache)), 'wrong_target');
  for (const h of SIGNED_REQUEST_HEADERS) {
    const without = Object.fromEntries(Object.entries(fresh).filter(([k]) => k !== h));
    assert.equal(await code(verify(without, {}, cache)), 'missing_header', h);
  }
  // A failed verification does not burn the nonce.
  assert.equal(await code(verify(fresh, {}, cache)), 'ok');
  // Someone else may use the same nonce value: the cache is per caller.
  const c2 = Identity.generate();
  const same = signRequest(c2, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW, nonce: fresh['x-agent-nonce'] });
  assert.equal(await code(verify(same, {}, cache)), 'ok');
  // The target may be given as an ID string.
  const again = signRequest(caller, { target: me.agentId, method: 'get', pathAndQuery: '/x', timestamp: NOW });
  assert.equal(await code(verify(again, { me: me.agentId }, cache)), 'ok', 'method signed uppercase');
});

test('the order of checks is the node’s', async () => {
  const s = signRequest(caller, { target: 'did:key:z6MkOther', method: 'GET', pathAndQuery: '/x', timestamp: NOW - 1000 });
  // Missing header first, then the caller's ID, then the target, then the time, then the nonce.
  assert.equal(await code(verify({ ...s, 'x-agent-signature': undefined })), 'missing_header');
  assert.equal(await code(verify({ ...s, 'x-agent-id': 'did:web:x' })), 'bad_signature');
  assert.equal(await code(verify(s)), 'wrong_target');
  assert.equal(await code(verify({ ...s, 'x-agent-target': me.agentId })), 'stale_timestamp');
  assert.equal(
    await code(verify({ ...s, 'x-agent-target': me.agentId, 'x-agent-timestamp': String(NOW), 'x-agent-nonce': 'c2hvcnQ' })),
    'missing_header',
    'a nonce under 16 bytes',
  );
});

test('garbage headers are refused with a code, never a crash', async () => {
  const s = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  const cases: [Record<string, string>, string][] = [
    [{ 'x-agent-id': 'did:key:z' + 'A'.repeat(10_000) }, 'bad_signature'],
    [{ 'x-agent-id': '' }, 'bad_signature'],
    [{ 'x-agent-id': '\u0000\uffff' }, 'bad_signature'],
    [{ 'x-agent-timestamp': 'soon' }, 'stale_timestamp'],
    [{ 'x-agent-timestamp': '1e9' }, 'stale_timestamp'],
    [{ 'x-agent-timestamp': ' 1800000000' }, 'stale_timestamp'],
    [{ 'x-agent-timestamp': '9'.repeat(400) }, 'stale_timestamp'],
    [{ 'x-agent-timestamp': '-9223372036854775808' }, 'stale_timestamp'],
    [{ 'x-agent-nonce': '!!!!' }, 'missing_header'],
    [{ 'x-agent-nonce': 'A'.repeat(100_000) }, 'bad_signature'],
    [{ 'x-agent-signature': 'x' }, 'bad_signature'],
    [{ 'x-agent-signature': 'A'.repeat(86) }, 'bad_signature'],
    [{ 'x-agent-signature': 'A'.repeat(87) }, 'bad_signature'],
    [{ 'x-agent-signature': s['x-agent-signature'] + '=' }, 'bad_signature'],
  ];
  for (const [over, want] of cases) assert.equal(await code(verify({ ...s, ...over })), want, JSON.stringify(over).slice(0, 60));
  // The header must be the very text signed: other spellings of the same second are refused.
  for (const spelled of [`+${NOW}`, `0${NOW}`, `${NOW}.0`]) {
    assert.equal(await code(verify({ ...s, 'x-agent-timestamp': spelled })), 'stale_timestamp', spelled);
  }
});

test('headers: any shape, any case; duplicates are bad_signature', async () => {
  const s = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  const upper = Object.fromEntries(Object.entries(s).map(([k, v]) => [k.toUpperCase(), v]));
  assert.equal(await code(verify(upper)), 'ok');
  assert.equal(await code(verify(new Headers(s))), 'ok');
  assert.equal(await code(verify(Object.entries(s))), 'ok');
  assert.equal(await code(verify({ ...s, 'x-agent-nonce': [s['x-agent-nonce']] })), 'ok');
  for (const h of SIGNED_REQUEST_HEADERS) {
    assert.equal(await code(verify([...Object.entries(s), [h, s[h]]])), 'bad_signature', `${h} twice`);
    assert.equal(await code(verify({ ...s, [h]: [s[h], s[h]] })), 'bad_signature', `${h} as an array of two`);
  }
  assert.equal(headerLookup({ A: '1' }).get('a'), '1');
});

test('the nonce cache is bounded and never forgets a replay', async () => {
  const cache = new NonceCache({ capacity: 3 });
  const reqs = [0, 1, 2, 3].map((i) => signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/', timestamp: NOW - 10 + i }));
  const v = (r: (typeof reqs)[number]): Promise<string> => code(verify(r, { pathAndQuery: '/' }, cache));
  for (const r of reqs) assert.equal(await v(r), 'ok');
  assert.equal(cache.size, 3);
  // reqs[0] was evicted: replaying it must still fail, as stale.
  assert.equal(await v(reqs[0]!), 'stale_timestamp');
  assert.equal(await v(reqs[3]!), 'replayed_nonce');
  // Entries older than the window are forgotten (they would be stale anyway).
  const c2 = new NonceCache();
  const old = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/', timestamp: NOW });
  await verify(old, { pathAndQuery: '/' }, c2);
  const later = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/', timestamp: NOW + 100 });
  await verify(later, { pathAndQuery: '/', now: NOW + 100 }, c2);
  assert.equal(c2.size, 1);
  // refuseUntil: everything signed at or before is stale.
  const c3 = new NonceCache({ refuseUntil: NOW });
  assert.equal(await code(verify(old, { pathAndQuery: '/' }, c3)), 'stale_timestamp');
  const next = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/', timestamp: NOW + 1 });
  assert.equal(await code(verify(next, { pathAndQuery: '/', now: NOW + 1 }, c3)), 'ok');
});

test('the nonce cache holds its bound under a flood', async () => {
  const cache = new NonceCache({ capacity: 1000 });
  // 50 calls a second for 100 s: the window (60 s) would hold 3,000.
  const at = (i: number): number => NOW + Math.floor(i / 50);
  for (let i = 0; i < 5000; i++) cache.insert(caller.agentId, `n${i}`, at(i), at(i), 60);
  assert.equal(cache.size, 1000);
  const now = at(4999);
  assert.throws(() => cache.insert(caller.agentId, 'n4999', at(4999), now, 60), { code: 'replayed_nonce' });
  assert.throws(() => cache.insert(caller.agentId, 'n3500', at(3500), now, 60), { code: 'stale_timestamp' }, 'evicted');
  assert.throws(() => cache.insert(caller.agentId, 'fresh', at(3500), now, 60), { code: 'stale_timestamp' }, 'the window shrank');
  cache.insert(caller.agentId, 'fresh', now + 1, now + 1, 60);
});

test('concurrent identical requests: exactly one is accepted', async () => {
  const cache = new NonceCache();
  const s = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/x', timestamp: NOW });
  const results = await Promise.all(Array.from({ length: 10 }, () => code(verify(s, {}, cache))));
  assert.equal(results.filter((r) => r === 'ok').length, 1);
  assert.equal(results.filter((r) => r === 'replayed_nonce').length, 9);
});

test('responses verify only for their request, status, body and responder', async () => {
  const req = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: '/' });
  const nonce = req['x-agent-nonce'];
  const res = signResponse(me, { status: 200, requestNonce: nonce, body: 'ok' });
  const check = (over: Partial<Parameters<typeof verifyResponse>[0]>): Promise<string> =>
    code(verifyResponse({ agentId: me.agentId, status: 200, requestNonce: nonce, headers: res, body: 'ok', ...over }));
  assert.equal(await check({}), 'ok');
  assert.equal(await check({ body: 'forged' }), 'bad_signature');
  assert.equal(await check({ status: 500 }), 'bad_signature');
  assert.equal(await check({ requestNonce: 'other-nonce' }), 'bad_signature');
  assert.equal(await check({ agentId: caller.agentId }), 'wrong_target');
  assert.equal(await check({ headers: { ...res, 'x-agent-signature': undefined } }), 'missing_header');
  assert.equal(await check({ headers: { ...res, 'x-agent-timestamp': 'x' } }), 'stale_timestamp');
  assert.equal(await check({ headers: new Headers(res) }), 'ok');
});

test('signRequest refuses a path without a leading slash', () => {
  assert.throws(() => signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: 'x' }), TypeError);
});

test('an empty query is no query: /x? is signed as /x', async () => {
  for (const [signed, seen] of [['/x?', '/x'], ['/x', '/x?']] as const) {
    const s = signRequest(caller, { target: me.agentId, method: 'GET', pathAndQuery: signed, timestamp: NOW });
    assert.equal(await verify(s, { pathAndQuery: seen }), caller.agentId, `${signed} → ${seen}`);
  }
});
