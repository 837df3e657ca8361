/**
 * Reading bodies from the network under a size cap.
 * @module
 */

import { concatBytes } from './encoding.js';

/** The default cap of request bodies an agent reads: 1 MiB (the node's gateway default). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The body was over the cap. */
export const TOO_LARGE: unique symbol = Symbol('too_large');

/** A declared `Content-Length` over `cap` (or malformed: treated as absent). */
export function declaredOver(contentLength: string | null | undefined, cap: number): boolean {
  if (contentLength === null || contentLength === undefined) return false;
  const t = contentLength.trim();
  if (!/^[0-9]{1,20}$/.test(t)) return false;
  return Number(t) > cap;
}

/**
 * Reads a WHATWG stream to its end, or stops (and cancels it) once over `cap` bytes.
 */
export async function readStreamCapped(
  stream: ReadableStream<Uint8Array> | null,
  cap: number,
): Promise<Uint8Array | typeof TOO_LARGE> {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > cap) {
        await reader.cancel().catch(() => undefined);
        return TOO_LARGE;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return chunks.length === 1 ? chunks[0]! : concatBytes(...chunks);
}
