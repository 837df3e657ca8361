/**
 * Agent cards (docs/protocol.md §3): a manifest signed over `"AGENTMESH-CARD-V1\n"` ‖
 * JCS(manifest) (RFC 8785), wrapped in `{"manifest", "manifest_signature"}`. Verifiers
 * canonicalize the manifest **as received**, unknown fields included.
 * @module
 */

import canonicalize from 'canonicalize';

import { verifySignature } from './ed25519.js';
import { b64urlDecode, concatBytes, formatRfc3339, toBytes } from './encoding.js';
import { CardError, InvalidIdError } from './errors.js';
import { verifyKeyOf, type Identity } from './identity.js';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** The manifest `schema` this version speaks. */
export const CARD_SCHEMA = 'agentmesh/card/v1';
/** Domain separation prefix of card signatures. */
export const CARD_SIGNING_PREFIX = 'AGENTMESH-CARD-V1\n';
/** The largest envelope a node accepts, in bytes. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;

/** A skill, A2A `AgentSkill`-compatible. */
export interface Skill {
  id: string;
  name?: string;
  description?: string;
  tags?: string[];
  examples?: string[];
  [extra: string]: JsonValue | undefined;
}

/**
 * The fields of a card a publisher chooses, named as on the wire (docs/protocol.md §3) because
 * they are what gets signed. `schema`, `agent_id` and `issued_at` are filled in when signing.
 */
export interface CardFields {
  /** 1–64 chars, human-readable, not unique. */
  name: string;
  /** `http(s)://…`, `ws(s)://…` or `relay://<agent_id>` (required unless `revoked`). */
  endpoint?: string;
  /** ≤ 4,000 chars. */
  description?: string;
  /** ≤ 64 skills. */
  skills?: Skill[];
  /** ≤ 32 tags, each 1–64 chars. */
  tags?: string[];
  /** `http`, `mcp`, `a2a`, `ws`, … */
  protocols?: string[];
  /** Base URLs of nodes whose relay holds this agent's tunnel (for `relay://`). */
  relays?: string[];
  /** The text embedded for discovery instead of the description (≤ 4,000 chars). */
  vector_desc?: string;
  /** The most requests per second the agent accepts (0.001–1,000,000). */
  qps_budget?: number;
  /** The most requests in flight the agent accepts (1–1,000,000). */
  concurrency_limit?: number;
  /** After it the card is not served: RFC 3339 UTC whole seconds, or a `Date`. */
  expires_at?: string | Date;
  /** `true` makes this version a tombstone. */
  revoked?: boolean;
  /** Free-form, ≤ 8 KiB. */
  meta?: JsonObject;
  /** Fields this version does not name are signed and kept as given. */
  [extra: string]: JsonValue | Date | Skill[] | undefined;
}

/** A manifest as signed: the fields above plus `schema`, `agent_id` and `issued_at`. */
export interface Manifest {
  schema: string;
  agent_id: string;
  name: string;
  issued_at: string;
  endpoint?: string;
  description?: string;
  skills?: Skill[];
  tags?: string[];
  protocols?: string[];
  relays?: string[];
  vector_desc?: string;
  qps_budget?: number;
  concurrency_limit?: number;
  expires_at?: string;
  revoked?: boolean;
  meta?: JsonObject;
  [extra: string]: JsonValue | Skill[] | undefined;
}

/** A signed card on the wire. */
export interface Envelope {
  manifest: Manifest;
  manifest_signature: string;
}

/** The bytes a card signature covers: the prefix and the JCS form of the manifest. */
export function cardSigningBytes(manifest: Readonly<Record<string, unknown>>): Uint8Array {
  let jcs: string | undefined;
  try {
    jcs = canonicalize(manifest);
  } catch (e) {
    throw new CardError('invalid_field', `manifest: cannot be canonicalized: ${String(e)}`);
  }
  if (jcs === undefined) throw new CardError('invalid_field', 'manifest: cannot be canonicalized');
  return concatBytes(toBytes(CARD_SIGNING_PREFIX), toBytes(jcs));
}

/** The JCS (RFC 8785) form of a JSON value. */
export function jcs(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError('value cannot be canonicalized');
  return s;
}

/** Builds the manifest `identity` signs for `fields`, issued at `issuedAt` (unix seconds). */
export function buildManifest(identity: Identity, fields: CardFields, issuedAt: number): Manifest {
  const m: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    m[k] = v instanceof Date ? formatRfc3339(Math.floor(v.getTime() / 1000)) : v;
  }
  m['schema'] = CARD_SCHEMA;
  m['agent_id'] = identity.agentId;
  m['issued_at'] = formatRfc3339(issuedAt);
  return m as Manifest;
}

/**
 * Signs a manifest with `identity` and wraps it in an envelope. The manifest's `agent_id` must be
 * the identity's: a card the network would refuse is not shipped.
 */
export function signCard(manifest: Manifest, identity: Identity): Envelope {
  if (manifest.agent_id !== identity.agentId) {
    throw new CardError('invalid_field', "agent_id: must be the signing key's did:key");
  }
  const manifest_signature = identity.signB64(cardSigningBytes(manifest));
  return { manifest, manifest_signature };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Verifies an envelope's signature (the manifest canonicalized as received) and returns it
 * typed. Checks, in the node's order: the envelope's shape (`invalid_field`), the agent ID
 * (`invalid_id`), the signature (`bad_signature`). Field rules are the node's business.
 */
export async function verifyCard(envelope: unknown): Promise<Envelope> {
  if (!isObject(envelope)) throw new CardError('invalid_field', 'envelope: must be a JSON object');
  const manifest = envelope['manifest'];
  if (manifest === undefined) throw new CardError('invalid_field', 'manifest: is required');
  if (!isObject(manifest)) throw new CardError('invalid_field', 'manifest: must be an object');
  const sig = envelope['manifest_signature'];
  if (sig === undefined) throw new CardError('bad_signature', 'manifest_signature: is missing');
  if (typeof sig !== 'string') throw new CardError('bad_signature', 'manifest_signature: must be a base64url string');
  const agentId = manifest['agent_id'];
  if (agentId === undefined) throw new CardError('invalid_field', 'agent_id: is required');
  if (typeof agentId !== 'string') throw new CardError('invalid_field', 'agent_id: must be a string');
  let key;
  try {
    key = verifyKeyOf(agentId);
  } catch (e) {
    throw new CardError('invalid_id', `agent_id: ${e instanceof InvalidIdError ? e.message : String(e)}`);
  }
  const raw = b64urlDecode(sig);
  if (!raw || raw.length !== 64) {
    throw new CardError('bad_signature', 'manifest_signature: is not 64 bytes of base64url');
  }
  if (!(await verifySignature(key, cardSigningBytes(manifest), raw))) {
    throw new CardError('bad_signature', 'manifest_signature: does not match the manifest and agent_id');
  }
  return envelope as unknown as Envelope;
}
