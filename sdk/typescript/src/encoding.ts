/**
 * The small encodings of docs/protocol.md §1: base64url without padding for binary values,
 * lowercase hex SHA-256 digests, unix seconds in headers, RFC 3339 UTC whole seconds in cards.
 * @module
 */

import { sha256 } from '@noble/hashes/sha2';
import { base64urlnopad } from '@scure/base';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** Bytes of a string (UTF-8) or the bytes themselves. */
export function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? utf8Encoder.encode(data) : data;
}

/** UTF-8 text of bytes (invalid sequences become U+FFFD). */
export function utf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** base64url without padding. */
export function b64url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/**
 * Decodes base64url without padding, strictly (no padding, no standard alphabet, no non-zero
 * trailing bits), as the node does. Returns `undefined` for anything else.
 */
export function b64urlDecode(text: string): Uint8Array | undefined {
  try {
    return base64urlnopad.decode(text);
  } catch {
    return undefined;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b];
  return out;
}

/** Bytes of a hex string (even length, 0-9a-fA-F); throws `TypeError` otherwise. */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new TypeError('expected an even-length hex string');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex SHA-256 of `data` (a string is hashed as UTF-8). */
export function sha256Hex(data: Uint8Array | string): string {
  return hex(sha256(toBytes(data)));
}

/** Seconds since the unix epoch, now. */
export function nowUnix(): number {
  return Math.floor(Date.now() / 1000);
}

/** Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (the one spelling cards use). */
export function formatRfc3339(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Parses a card time: RFC 3339, UTC (`Z`), whole seconds. Returns unix seconds, or
 * `undefined` for any other spelling.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls over (Feb 30 → Mar 2); a valid time formats back to itself.
  if (!Number.isFinite(ms) || formatRfc3339(ms / 1000) !== text) return undefined;
  return ms / 1000;
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `n` bytes from the platform's cryptographic random source. */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}
