/**
 * The protocol's verification rule (docs/protocol.md §2): cofactored equation, S < ℓ, R canonical
 * and not of small order, A canonical and not of small order — the same verdicts whether the
 * WebCrypto fast path or the pure-JavaScript check answers.
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2';

import { Identity, b64url, b64urlDecode, didFromPublicKey, parseRfc3339, formatRfc3339, publicKeyFromDid } from '../src/index.js';
import { SMALL_ORDER_ENCODINGS, isCanonicalEncoding, setWebCryptoVerify, verifyExact, verifySignature } from '../src/ed25519.js';
import { concatBytes, fromHex, hex, toBytes } from '../src/encoding.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

const modL = (n: bigint): bigint => ((n % L) + L) % L;
const challenge = (r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint => modL(leToBig(sha512(concatBytes(r, a, m))));

/** A point of order 8 (from the small-order list). */
const T8 = ed.Point.fromBytes(fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'));

const seed = fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
const ext = ed.utils.getExtendedPublicKey(seed);
const A = ext.pointBytes;
const msg = toBytes('AGENTMESH-REQUEST-V1\ntest');

/** A signature whose R has a torsion component: valid under the cofactored equation only. */
function torsionSignature(): Uint8Array {
  const r = 123456789n;
  const R = ed.Point.BASE.multiply(r).add(T8).toBytes();
  const k = challenge(R, A, msg);
  return concatBytes(R, le32(modL(r + k * ext.scalar)));
}

/** R = the identity, S = k·a: holds exactly (cofactorless too), but R is of small order. */
function smallOrderRSignature(): Uint8Array {
  const R = ed.Point.ZERO.toBytes();
  const k = challenge(R, A, msg);
  return concatBytes(R, le32(modL(k * ext.scalar)));
}

test('the small-order list is exactly the eight small-order points', () => {
  const seen = new Set<string>();
  for (const h of SMALL_ORDER_ENCODINGS) {
    const p = ed.Point.fromBytes(fromHex(h));
    assert.ok(p.isSmallOrder(), h);
    assert.equal(p.toHex(), h, 'canonical');
    seen.add(h);
  }
  assert.equal(seen.size, 8);
  // The multiples of a point of order 8 are all of them.
  let p = ed.Point.ZERO;
  for (let i = 0; i < 8; i++) {
    assert.ok(seen.has(p.toHex()));
    p = p.add(T8);
  }
});

for (const path of ['webcrypto', 'pure-js'] as const) {
  describe(`signature rule (${path})`, () => {
    after(() => setWebCryptoVerify(true));
    const key = { raw: A };
    const check = async (sig: Uint8Array, m = msg): Promise<boolean> => {
      setWebCryptoVerify(path === 'webcrypto');
      return verifySignature({ raw: key.raw }, m, sig);
    };

    test('an RFC 8032 signature verifies; another message does not', async () => {
      const sig = ed.sign(msg, seed);
      assert.equal(await check(sig), true);
      assert.equal(await check(sig, toBytes('other')), false);
    });

    test('torsion in R (made by the key holder) verifies, as at the node', async () => {
      const sig = torsionSignature();
      assert.equal(ed.verify(sig, msg, A, { zip215: false }), true, 'cofactored verifiers accept it');
      assert.equal(await check(sig), true);
    });

    test('R of small order is refused even though the equation holds', async () => {
      assert.equal(await check(smallOrderRSignature()), false);
    });

    test('S ≥ ℓ is refused', async () => {
      const sig = ed.sign(msg, seed);
      const s = leToBig(sig.subarray(32));
      const malleated = concatBytes(sig.subarray(0, 32), le32(s + L));
      assert.equal(await check(malleated), false);
    });

    test('a non-canonical R is refused', async () => {
      const sig = ed.sign(msg, seed);
      const bad = sig.slice();
      bad.set(fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), 0); // y = p (≡ 0)
      assert.equal(await check(bad), false);
    });

    test('garbage of every length is refused without throwing', async () => {
      for (const n of [0, 1, 63, 64, 65, 128]) assert.equal(await check(new Uint8Array(n).fill(7)), false);
    });
  });
}

test('canonical encodings', () => {
  assert.equal(isCanonicalEncoding(fromHex('0100000000000000000000000000000000000000000000000000000000000000')), true);
  assert.equal(isCanonicalEncoding(fromHex('0100000000000000000000000000000000000000000000000000000000000080')), false);
  assert.equal(isCanonicalEncoding(fromHex('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')), false);
  assert.equal(verifyExact(A, msg, ed.sign(msg, seed)), true);
});

test('IDs: weak and non-canonical keys, other multicodecs, junk', () => {
  const good = Identity.fromSeed(seed).agentId;
  assert.equal(hex(publicKeyFromDid(good)), hex(A));
  for (const h of SMALL_ORDER_ENCODINGS) assert.throws(() => publicKeyFromDid(didFromPublicKey(fromHex(h))), { code: 'invalid_id' });
  for (const junk of ['', 'did:key:', 'did:key:z', 'did:key:z' + '1'.repeat(61), good + 'x', good.slice(0, -1), 'did:key:z6Mk0OIl', good.toLowerCase()]) {
    assert.throws(() => publicKeyFromDid(junk), { code: 'invalid_id' }, junk);
  }
});

test('base64url is strict: no padding, no standard alphabet, no stray bits', () => {
  assert.equal(b64url(toBytes('nonce-nonce-nonce')), 'bm9uY2Utbm9uY2Utbm9uY2U');
  assert.equal(b64urlDecode('bm9uY2Utbm9uY2Utbm9uY2U')?.length, 17);
  for (const bad of ['bm9uY2Utbm9uY2Utbm9uY2U=', 'bm9uY2Utbm9uY2Utbm9uY2V', 'a+b/', 'a', ' bm9u']) assert.equal(b64urlDecode(bad), undefined, bad);
});

test('RFC 3339 card times: one spelling per instant', () => {
  assert.equal(parseRfc3339('2026-11-24T21:00:00Z'), 1795554000);
  assert.equal(formatRfc3339(1795554000), '2026-11-24T21:00:00Z');
  assert.equal(parseRfc3339('1970-01-01T00:00:00Z'), 0);
  for (const bad of ['2026-11-24T21:00:00.5Z', '2026-11-24T21:00:00+01:00', '2026-11-24 21:00:00Z', '2026-13-24T21:00:00Z', '2026-02-30T00:00:00Z', '']) {
    assert.equal(parseRfc3339(bad), undefined, bad);
  }
});

test('identities: deterministic signatures, secrets never printed', async () => {
  const id = Identity.fromSeed(seed);
  assert.equal(hex(id.sign('x')), hex(ed.sign(toBytes('x'), seed)));
  const { inspect } = await import('node:util');
  assert.ok(!inspect(id).includes(hex(seed)));
  assert.ok(!JSON.stringify(id).includes(b64url(seed)));
  assert.deepEqual(JSON.parse(JSON.stringify(id)), { agentId: id.agentId });
  assert.throws(() => Identity.fromSeed(new Uint8Array(31)), TypeError);
  assert.notEqual(Identity.generate().agentId, Identity.generate().agentId);
});
