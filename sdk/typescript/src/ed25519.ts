/**
 * Ed25519 under the protocol's one verification rule (docs/protocol.md §2, "Readings:
 * signatures"): RFC 8032 §5.1.7's cofactored equation `[8][S]B = [8]R + [8][k]A`, with `S` < ℓ,
 * `R` canonically encoded and not of small order, and `A` canonical and not of small order.
 *
 * The exact check is @noble/ed25519's strict branch (`zip215: false`: canonical encodings,
 * cofactored equation, small-order `A` refused) plus a small-order test of `R`. Where the
 * runtime's WebCrypto has Ed25519 (Node ≥ 20, Deno, Bun, workers), it is tried first: an
 * OpenSSL-style verifier is cofactorless, and an equation that holds exactly also holds times 8,
 * so its "yes" (with the same encoding checks done here) is the protocol's "yes"; its "no" is
 * re-checked with the exact rule, so a signature with a torsion component in `R` (which only
 * its key's holder can make) verifies as it does at the node.
 * @module
 */

import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2';

ed.hashes.sha512 = (message: Uint8Array) => sha512(message) as Uint8Array<ArrayBuffer>;

/** The same bytes typed for WebCrypto (a copy only if they live in a shared buffer). */
function ab(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? (u as Uint8Array<ArrayBuffer>) : new Uint8Array(u);
}

/** ℓ, the order of the prime subgroup, little-endian bytes compared from the top. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** p = 2^255 - 19. */
const P = 2n ** 255n - 19n;

function leToBigint(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * The canonical encodings of the eight small-order points (the identity, the point of order 2,
 * two of order 4, four of order 8). A canonical `R` of small order is one of them.
 */
const SMALL_ORDER = new Set<string>([
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
]);

/** For tests: the small-order encodings this module refuses as `R`. */
export const SMALL_ORDER_ENCODINGS: readonly string[] = [...SMALL_ORDER];

function hexOf(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Whether 32 bytes are the canonical encoding of a point (y < p; not x = 0 with the sign bit). */
export function isCanonicalEncoding(raw: Uint8Array): boolean {
  if (raw.length !== 32) return false;
  const copy = raw.slice();
  const sign = (copy[31]! & 0x80) !== 0;
  copy[31]! &= 0x7f;
  const y = leToBigint(copy);
  if (y >= P) return false;
  // x = 0 only for y = ±1; with the sign bit set that is a second spelling of the same point.
  if (sign && (y === 1n || y === P - 1n)) return false;
  return true;
}

/**
 * Whether 32 bytes are a usable Ed25519 public key: a canonically encoded curve point that is not
 * of small order ("weak keys are not IDs").
 */
export function isValidPublicKey(raw: Uint8Array): boolean {
  if (raw.length !== 32 || !isCanonicalEncoding(raw)) return false;
  try {
    const p = ed.Point.fromBytes(raw, false);
    return !p.isSmallOrder();
  } catch {
    return false;
  }
}

/** The public key of an RFC 8032 32-byte secret (seed). */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed.getPublicKey(seed);
}

/** Signs `msg` with the RFC 8032 32-byte secret `seed` (deterministic). */
export function signBytes(seed: Uint8Array, msg: Uint8Array): Uint8Array {
  return ed.sign(msg, seed);
}

/** The checks of `R` and `S` both paths share: canonical `R` not of small order, `S` < ℓ. */
function wellFormed(sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  const r = sig.subarray(0, 32);
  if (!isCanonicalEncoding(r) || SMALL_ORDER.has(hexOf(r))) return false;
  return leToBigint(sig.subarray(32, 64)) < L;
}

/** The exact rule, in pure JavaScript. `publicKey` must already satisfy {@link isValidPublicKey}. */
export function verifyExact(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (!wellFormed(sig)) return false;
  try {
    return ed.verify(sig, msg, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

type Subtle = SubtleCrypto;

let fastPath: 'unknown' | 'on' | 'off' = 'unknown';
let probing: Promise<boolean> | undefined;

function subtle(): Subtle | undefined {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  return c?.subtle;
}

// RFC 8032 test 1: the empty message signed by the first test key.
const PROBE_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const PROBE_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

function fromHexLocal(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Whether WebCrypto Ed25519 works here (checked once against RFC 8032's first vector). */
async function probe(): Promise<boolean> {
  const s = subtle();
  if (!s) return false;
  try {
    const key = await s.importKey('raw', ab(fromHexLocal(PROBE_PUB)), { name: 'Ed25519' }, false, ['verify']);
    const good = await s.verify({ name: 'Ed25519' }, key, ab(fromHexLocal(PROBE_SIG)), new Uint8Array(0));
    const bad = await s.verify({ name: 'Ed25519' }, key, ab(fromHexLocal(PROBE_SIG)), new Uint8Array(1));
    return good && !bad;
  } catch {
    return false;
  }
}

async function fastAvailable(): Promise<boolean> {
  if (fastPath !== 'unknown') return fastPath === 'on';
  probing ??= probe();
  const ok = await probing;
  if (fastPath === 'unknown') fastPath = ok ? 'on' : 'off';
  return fastPath === 'on';
}

/**
 * Turns the WebCrypto fast path on (the default, where available) or off (pure JavaScript). For
 * benchmarks and tests; results are the same either way.
 */
export function setWebCryptoVerify(enabled: boolean): void {
  fastPath = enabled ? 'unknown' : 'off';
  probing = undefined;
}

/** A public key ready for verification: its bytes and, once imported, its WebCrypto handle. */
export interface VerifyKey {
  readonly raw: Uint8Array;
  webcrypto?: Promise<CryptoKey | undefined>;
}

function importKey(key: VerifyKey): Promise<CryptoKey | undefined> {
  key.webcrypto ??= (async () => {
    const s = subtle();
    if (!s) return undefined;
    try {
      return await s.importKey('raw', ab(key.raw), { name: 'Ed25519' }, false, ['verify']);
    } catch {
      return undefined;
    }
  })();
  return key.webcrypto;
}

/**
 * Verifies `sig` by `key` over `msg` under the protocol's rule. `key.raw` must already satisfy
 * {@link isValidPublicKey} (IDs are checked when parsed).
 */
export async function verifySignature(key: VerifyKey, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (!wellFormed(sig)) return false;
  if (await fastAvailable()) {
    const k = await importKey(key);
    const s = subtle();
    if (k && s) {
      try {
        if (await s.verify({ name: 'Ed25519' }, k, ab(sig), ab(msg))) return true;
      } catch {
        // fall through to the exact check
      }
    }
  }
  return verifyExact(key.raw, msg, sig);
}
