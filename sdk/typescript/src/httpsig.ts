/**
 * RFC 9421 HTTP Message Signatures over Ed25519, with an RFC 9530 `Content-Digest`: the second
 * signature form of docs/protocol.md §4b, beside the `X-Agent-*` handshake, and the Web Bot Auth
 * profile of §4c. Byte for byte the Rust reference's (`src/httpsig.rs`).
 *
 * A request signature covers `("@method" "@authority" "@path" "@query" "content-digest")` with
 * `created`, `keyid` (the caller's did:key), `alg="ed25519"`, `expires`, `nonce` and
 * `tag="agentmesh"` (in that order, the Web Bot Auth drafts'), under the label `am`. Through a
 * gateway the caller adds a second one, `am-agent`, over the URL the gateway will call (the card's
 * endpoint joined with the path); the gateway verifies `am`, drops it and passes `am-agent` on as
 * `am`, so the agent checks a signature over the very request it receives. Answers are signed
 * over `("@status" "content-digest")` with `nonce` = the request's nonce.
 *
 * Structured Fields (RFC 8941/9651) are parsed and serialized by the `structured-headers`
 * package; the signature base (RFC 9421 §2.5) is built here, as the Rust reference builds it.
 * @module
 */

import { sha256, sha512 } from '@noble/hashes/sha2';
import { base64 } from '@scure/base';
import {
  parseDictionary,
  serializeInnerList,
  serializeItem,
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  type Parameters as SfParameters,
} from 'structured-headers';

import { b64url, randomBytes, toBytes } from './encoding.js';
import { AgentMeshError } from './errors.js';
import type { Identity } from './identity.js';

/** The label of the signature for the hop a request is sent on. */
export const LABEL = 'am';
/** The label of the signature for the agent-side URL, when a request goes through a gateway. */
export const AGENT_LABEL = 'am-agent';
/** The label of the Web Bot Auth signature (docs/protocol.md §4c). */
export const WEB_BOT_AUTH_LABEL = 'wba';
/** The `tag` of AgentMesh signatures. */
export const TAG = 'agentmesh';
/** The `tag` of the Web Bot Auth profile. */
export const WEB_BOT_AUTH_TAG = 'web-bot-auth';
/** The `tag` of a key directory's signatures. */
export const DIRECTORY_TAG = 'http-message-signatures-directory';
/** The label of a key directory's signature. */
export const DIRECTORY_LABEL = 'binding';
/** The media type of a key directory. */
export const DIRECTORY_MEDIA_TYPE = 'application/http-message-signatures-directory+json';
/** `Signature-Input`. */
export const H_SIGNATURE_INPUT = 'signature-input';
/** `Signature` (RFC 9421; not to be confused with `X-Agent-Signature`). */
export const H_HTTP_SIGNATURE = 'signature';
/** `Content-Digest` (RFC 9530). */
export const H_CONTENT_DIGEST = 'content-digest';
/** `Signature-Agent` (Web Bot Auth). */
export const H_SIGNATURE_AGENT = 'signature-agent';
/** What an AgentMesh request signature covers, in order. */
export const REQUEST_COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest'] as const;
/** What an AgentMesh response signature covers, in order. */
export const RESPONSE_COMPONENTS = ['@status', 'content-digest'] as const;
/** How long a signature AgentMesh makes stays valid (`expires` − `created`), seconds. */
export const VALIDITY_S = 60;
/** Most bytes of `Signature-Input` or `Signature` a verifier parses. */
export const MAX_FIELD_BYTES = 8 * 1024;

/** Why an RFC 9421 signature was refused: `missing` (a header, named in `header`), `malformed`, `stale`. */
export class HttpSigError extends AgentMeshError {
  declare readonly code: 'missing' | 'malformed' | 'stale';
  /** The missing header, for `missing`. */
  readonly header: string | undefined;

  constructor(code: 'missing' | 'malformed' | 'stale', message: string, header?: string) {
    super(code, message);
    this.header = header;
  }
}

const malformed = (m: string): HttpSigError => new HttpSigError('malformed', m);

/** `sha-256=:<base64>:` of `body` (RFC 9530). */
export function contentDigest(body: Uint8Array | string): string {
  return `sha-256=:${base64.encode(sha256(toBytes(body)))}:`;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function isByteSequence(v: unknown): v is ArrayBuffer {
  return v instanceof ArrayBuffer;
}

/**
 * Whether a `Content-Digest` value carries a `sha-256` member equal to `body`'s digest; throws
 * {@link HttpSigError} `malformed` when it does not parse or has no `sha-256` member.
 */
export function contentDigestMatches(value: string, body: Uint8Array | string): boolean {
  let dict: Dictionary;
  try {
    dict = parseDictionary(value);
  } catch (e) {
    throw malformed(`Content-Digest: ${e instanceof Error ? e.message : 'does not parse'}`);
  }
  const member = dict.get('sha-256');
  if (!member || isInnerList(member) || !isByteSequence(member[0])) {
    throw malformed('Content-Digest has no sha-256 member');
  }
  // A sha-512 member, when present, must hold too (as the node checks).
  const other = dict.get('sha-512');
  if (other && (isInnerList(other) || !isByteSequence(other[0]))) {
    throw malformed('Content-Digest: sha-512 is not a byte sequence');
  }
  const sha512Ok =
    !other || bytesEqual(new Uint8Array(other[0] as ArrayBuffer), sha512(toBytes(body)));
  return bytesEqual(new Uint8Array(member[0]), sha256(toBytes(body))) && sha512Ok;
}

/** The order a signer writes parameters in (it is part of what is signed). */
export type ParamOrder = 'standard' | 'expires-first';

/** The parameters of one signature. */
export interface SignatureParams {
  /** `created`, unix seconds. */
  created: number;
  /** `expires`, unix seconds. */
  expires?: number | undefined;
  /** `nonce`. */
  nonce?: string | undefined;
  /** `keyid`. */
  keyid: string;
  /** Whether `alg="ed25519"` is written (always `ed25519` when present). */
  alg: boolean;
  /** `tag`. */
  tag?: string | undefined;
  /**
   * `standard` (default): `created`, `keyid`, `alg`, `expires`, `nonce`, `tag` — the Web Bot Auth
   * drafts' and Cloudflare's order, used by AgentMesh signatures. `expires-first`: `created`,
   * `expires`, `keyid`, `alg`, `nonce`, `tag` — the directory draft's example.
   */
  order?: ParamOrder | undefined;
}

/** AgentMesh's parameters: `created`=now, `expires`=now+60, the nonce, the signer's did:key, `alg`, `tag="agentmesh"`. */
export function agentmeshParams(identity: Identity | string, now: number, nonce: string): SignatureParams {
  return {
    created: now,
    expires: now + VALIDITY_S,
    nonce,
    keyid: typeof identity === 'string' ? identity : identity.agentId,
    alg: true,
    tag: TAG,
  };
}

function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (c) => c.toUpperCase());
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/** The parts of a request URL a signature covers. */
export class RequestTarget {
  /** `@method`, uppercase. */
  readonly method: string;
  /** `@authority`: host and port as sent, lowercase, no default port. */
  readonly authority: string;
  /** `@path`, as sent (`/` when empty). */
  readonly path: string;
  /** The query without `?`, as sent (`undefined` or empty: `@query` is `?`). */
  readonly query: string | undefined;

  /** `method` and `pathAndQuery` at `authority`. */
  constructor(method: string, authority: string, pathAndQuery: string) {
    const q = pathAndQuery.indexOf('?');
    const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
    this.method = asciiUpper(method);
    this.authority = asciiLower(authority);
    this.path = path === '' ? '/' : path;
    this.query = q < 0 ? undefined : pathAndQuery.slice(q + 1);
  }

  /**
   * `method` on an absolute `http(s)://` URL, taken as written (no normalization); `undefined`
   * for anything else. The authority drops the scheme's default port, as HTTP clients do when they
   * write `Host`.
   */
  static ofUrl(method: string, url: string): RequestTarget | undefined {
    const sep = url.indexOf('://');
    if (sep < 0) return undefined;
    const scheme = asciiLower(url.slice(0, sep));
    let rest = url.slice(sep + 3);
    const m = /[/?#]/.exec(rest);
    const end = m ? m.index : rest.length;
    let authority = rest.slice(0, end);
    rest = rest.slice(end).split('#')[0] ?? '';
    const at = authority.lastIndexOf('@');
    if (at >= 0) authority = authority.slice(at + 1);
    if (scheme !== 'http' && scheme !== 'https') return undefined;
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      const port = authority.slice(colon + 1);
      if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) authority = authority.slice(0, colon);
    }
    if (authority === '') return undefined;
    return new RequestTarget(method, authority, rest);
  }

  /** The value of derived component `component` (`@method`, `@authority`, `@path`, `@query`, `@request-target`). */
  value(component: string): string | undefined {
    switch (component) {
      case '@method':
        return this.method;
      case '@authority':
        return this.authority;
      case '@path':
        return this.path;
      case '@query':
        return `?${this.query ?? ''}`;
      case '@request-target':
        return this.query !== undefined ? `${this.path}?${this.query}` : this.path;
      default:
        return undefined;
    }
  }
}

/**
 * A `Host` value as RFC 9421 §2.2.3 reads `@authority`: lowercase, without the scheme's default
 * port (`scheme` `http` or `https`; another or none leaves the port alone).
 */
export function normalizeAuthority(host: string, scheme?: string): string {
  const h = asciiLower(host.trim());
  const s = scheme === undefined ? undefined : asciiLower(scheme).replace(/:$/, '');
  if (s === 'http' && h.endsWith(':80')) return h.slice(0, -3);
  if (s === 'https' && h.endsWith(':443')) return h.slice(0, -4);
  return h;
}

/** One signature: its `Signature-Input` and `Signature` member values, without the label. */
export interface Signed {
  /** The label. */
  readonly label: string;
  /** The `Signature-Input` member value: `("@method" …);created=…;…`. */
  readonly input: string;
  /** The `Signature` member value: `:<base64>:`. */
  readonly signature: string;
  /** The signature base that was signed. */
  readonly base: string;
}

/** `label=input` for `Signature-Input`. */
export function inputMember(s: Signed): string {
  return `${s.label}=${s.input}`;
}

/** `label=:sig:` for `Signature`. */
export function signatureMember(s: Signed): string {
  return `${s.label}=${s.signature}`;
}

type ComponentParam = { kind: 'none' } | { kind: 'key'; member: string } | { kind: 'req' };

/** `name;key=member` (a Dictionary header's member, RFC 9421 §2.1.2) and `name;req` (§2.4). */
function splitComponent(c: string): [string, ComponentParam] {
  const k = c.indexOf(';key=');
  if (k >= 0) return [c.slice(0, k), { kind: 'key', member: c.slice(k + 5) }];
  if (c.endsWith(';req')) return [c.slice(0, -4), { kind: 'req' }];
  return [c, { kind: 'none' }];
}

function isInnerList(v: Item | InnerList): v is InnerList {
  return Array.isArray(v[0]);
}

function sfString(s: string, what: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw malformed(`${what} is not a printable ASCII string`);
  return s;
}

/** Serializes `(components…);params…` as RFC 8941 requires (the `@signature-params` value). */
function serializeParams(components: readonly string[], p: SignatureParams): string {
  const items: Item[] = components.map((c) => {
    const [name, param] = splitComponent(c);
    const params: SfParameters = new Map();
    if (param.kind === 'key') params.set('key', sfString(param.member, 'a key'));
    if (param.kind === 'req') params.set('req', true);
    return [sfString(name, 'a component name'), params];
  });
  const params: SfParameters = new Map();
  if (!Number.isSafeInteger(p.created)) throw malformed('created is not an integer');
  params.set('created', p.created);
  const expiresFirst = p.order === 'expires-first';
  if (p.expires !== undefined && !Number.isSafeInteger(p.expires)) throw malformed('expires is not an integer');
  if (p.expires !== undefined && expiresFirst) params.set('expires', p.expires);
  params.set('keyid', sfString(p.keyid, 'the keyid'));
  if (p.alg) params.set('alg', 'ed25519');
  if (p.expires !== undefined && !expiresFirst) params.set('expires', p.expires);
  if (p.nonce !== undefined) params.set('nonce', sfString(p.nonce, 'the nonce'));
  if (p.tag !== undefined) params.set('tag', sfString(p.tag, 'the tag'));
  try {
    return serializeInnerList([items, params]);
  } catch (e) {
    throw malformed(e instanceof Error ? e.message : 'cannot serialize the signature parameters');
  }
}

/**
 * The signature base of RFC 9421 §2.5: one `"<component>": <value>` line per component, then
 * `"@signature-params": <params>`, joined by `\n`.
 */
function signatureBase(lines: readonly (readonly [string, string])[], paramsValue: string): string {
  let base = '';
  for (const [component, value] of lines) {
    if (/[\r\n]/.test(value)) throw malformed(`the value of ${component} has a line break`);
    const [name, param] = splitComponent(component);
    if (param.kind === 'key') base += `"${name}";key="${param.member}": ${value}\n`;
    else if (param.kind === 'req') base += `"${name}";req: ${value}\n`;
    else base += `"${name}": ${value}\n`;
  }
  return base + `"@signature-params": ${paramsValue}`;
}

/**
 * Signs `components` with values `values` (same order) under `label`. A component
 * `name;key=member` covers one member of a Dictionary header (`signature-agent;key=wba`),
 * `name;req` the request's component in a response.
 */
export function signComponents(
  identity: Identity,
  label: string,
  components: readonly string[],
  values: readonly string[],
  params: SignatureParams,
): Signed {
  if (components.length !== values.length) throw new TypeError('one value per component');
  const input = serializeParams(components, params);
  const base = signatureBase(
    components.map((c, i) => [c, values[i]!] as const),
    input,
  );
  const sig = identity.sign(base);
  return { label, input, signature: `:${base64.encode(sig)}:`, base };
}

/** Signs a request for `target` with AgentMesh's components and `params`; `body` gives the `Content-Digest` it covers. */
export function signRequestTarget(
  identity: Identity,
  label: string,
  target: RequestTarget,
  body: Uint8Array | string,
  params: SignatureParams,
): Signed {
  const digest = contentDigest(body);
  const values = REQUEST_COMPONENTS.map((c) => target.value(c) ?? digest);
  return signComponents(identity, label, REQUEST_COMPONENTS, values, params);
}

/** Signs an answer with `status` and `body` to the request whose nonce was `requestNonce`. */
export function signResponseTarget(
  identity: Identity,
  status: number,
  requestNonce: string,
  body: Uint8Array | string,
  now: number,
): Signed {
  const params = agentmeshParams(identity, now, requestNonce);
  return signComponents(identity, LABEL, RESPONSE_COMPONENTS, [String(status), contentDigest(body)], params);
}

/** The RFC 7638 JWK SHA-256 thumbprint (base64url) of an Ed25519 key: the `keyid` of Web Bot Auth and key directories. */
export function jwkThumbprint(publicKey: Uint8Array): string {
  const jwk = `{"crv":"Ed25519","kty":"OKP","x":"${b64url(publicKey)}"}`;
  return b64url(sha256(toBytes(jwk)));
}

/** The key directory of one Ed25519 key, byte for byte as docs/protocol.md §4c fixes it. */
export function directoryBody(publicKey: Uint8Array): string {
  return `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"${jwkThumbprint(publicKey)}","x":"${b64url(publicKey)}","use":"sig"}]}`;
}

/**
 * The signature a key makes over its own directory as served at `authority` (the directory
 * draft's proof of possession), valid `created`…`expires`: label `binding`, covering
 * `("@authority";req "content-digest")`.
 */
export function signDirectory(identity: Identity, authority: string, created: number, expires: number): Signed {
  const params: SignatureParams = {
    created,
    expires,
    keyid: jwkThumbprint(identity.publicKey),
    alg: false,
    tag: DIRECTORY_TAG,
    order: 'expires-first',
  };
  const values = [asciiLower(authority), contentDigest(directoryBody(identity.publicKey))];
  return signComponents(identity, DIRECTORY_LABEL, ['@authority;req', 'content-digest'], values, params);
}

/** The directory URL of agent `agentId` at node `nodeUrl` (docs/protocol.md §4c). */
export function directoryUrl(nodeUrl: string, agentId: string): string {
  return `${nodeUrl.replace(/\/+$/, '')}/v1/agents/${agentId}/http-message-signatures-directory`;
}

/** The headers of a Web Bot Auth signature: `Signature-Agent` and the `wba` signature. */
export interface WebBotAuthSigned {
  /** The `Signature-Agent` header: `wba="<directory>";type=jwks_uri`. */
  readonly signatureAgent: string;
  /** The `wba` signature. */
  readonly signed: Signed;
}

/**
 * The Web Bot Auth signature of a request to a website (docs/protocol.md §4c): `directory` is the
 * agent's key directory URL; `nonce64` 64 bytes (default fresh random ones).
 */
export function signWebBotAuth(
  identity: Identity,
  target: RequestTarget,
  body: Uint8Array | string,
  directory: string,
  now: number,
  nonce64: Uint8Array = randomBytes(64),
): WebBotAuthSigned {
  if (nonce64.length !== 64) throw new TypeError('the Web Bot Auth nonce is 64 bytes');
  sfString(directory, 'the directory URL');
  const member = `"${directory.replace(/(["\\])/g, '\\$1')}";type=jwks_uri`;
  const params: SignatureParams = {
    created: now,
    expires: now + VALIDITY_S,
    nonce: base64.encode(nonce64),
    keyid: jwkThumbprint(identity.publicKey),
    alg: true,
    tag: WEB_BOT_AUTH_TAG,
  };
  const components = [...REQUEST_COMPONENTS, `${H_SIGNATURE_AGENT};key=${WEB_BOT_AUTH_LABEL}`];
  const digest = contentDigest(body);
  const values = [...REQUEST_COMPONENTS.map((c) => target.value(c) ?? digest), member];
  return { signatureAgent: `${WEB_BOT_AUTH_LABEL}=${member}`, signed: signComponents(identity, WEB_BOT_AUTH_LABEL, components, values, params) };
}

/** One signature read off a message, with everything needed to check it. */
export interface Parsed {
  /** Its label. */
  readonly label: string;
  /** What it covers, in order. */
  readonly components: readonly string[];
  /** Its parameters. */
  readonly params: SignatureParams;
  /** The signature base to verify. */
  readonly base: string;
  /** The signature bytes. */
  readonly signature: Uint8Array;
}

/** Whether `parsed` covers every one of `required`. */
export function covers(parsed: Parsed, required: readonly string[]): boolean {
  return required.every((r) => parsed.components.includes(r));
}

/** Throws {@link HttpSigError} `stale` for a signature created outside ±`windowS` of `now`, or expired. */
export function checkTime(parsed: Parsed, now: number, windowS: number): void {
  const created = parsed.params.created;
  if (Math.abs(created - now) > Math.abs(windowS)) {
    throw new HttpSigError('stale', `created ${created} is ${created - now} s from this clock; at most ±${windowS} s`);
  }
  const expires = parsed.params.expires;
  if (expires !== undefined && (expires < now || expires < created)) {
    throw new HttpSigError('stale', `the signature expired at ${expires}`);
  }
}

/**
 * Which signature of a message to read: a label, or `agentmesh` — `am` if present, else the only
 * one whose `keyid` is a did:key and whose label is not `am-agent` (a stock RFC 9421 signer
 * chooses its own label).
 */
export type Pick = { label: string } | 'agentmesh';

/** Header lookup by lowercase name, all values joined with `, `. */
export type HeaderFn = (name: string) => string | undefined;

function parseField(header: HeaderFn, name: string): Dictionary {
  const value = header(name);
  if (value === undefined) throw new HttpSigError('missing', `missing header ${name}`, name);
  if (value.length > MAX_FIELD_BYTES) throw malformed(`${name} is over ${MAX_FIELD_BYTES} bytes`);
  try {
    return parseDictionary(value);
  } catch (e) {
    throw malformed(`${name}: ${e instanceof Error ? e.message : 'does not parse'}`);
  }
}

function keyidIsDid(entry: Item | InnerList): boolean {
  if (!isInnerList(entry)) return false;
  const k = entry[1].get('keyid');
  return typeof k === 'string' && k.startsWith('did:key:');
}

function readParams(raw: SfParameters): SignatureParams {
  const p: SignatureParams = { created: 0, keyid: '', alg: false };
  let created: number | undefined;
  const isInt = (v: BareItem): v is number => typeof v === 'number' && Number.isSafeInteger(v);
  for (const [k, v] of raw) {
    switch (k) {
      case 'created':
        if (!isInt(v)) throw malformed('the created parameter has the wrong type');
        created = v;
        break;
      case 'expires':
        if (!isInt(v)) throw malformed('the expires parameter has the wrong type');
        p.expires = v;
        break;
      case 'nonce':
      case 'keyid':
      case 'tag':
        if (typeof v !== 'string') throw malformed(`the ${k} parameter has the wrong type`);
        if (k === 'nonce') p.nonce = v;
        else if (k === 'keyid') p.keyid = v;
        else p.tag = v;
        break;
      case 'alg':
        if (v !== 'ed25519') throw malformed('alg must be "ed25519"');
        p.alg = true;
        break;
      default:
        break;
    }
  }
  if (created === undefined) throw malformed('the signature has no created parameter');
  p.created = created;
  if (p.keyid === '') throw malformed('the signature has no keyid parameter');
  return p;
}

/**
 * Reads one signature off a message: `header` looks header fields up by lowercase name (all values
 * joined with `, `), `derived` gives derived components (`@method`, `@status`, …). Throws
 * {@link HttpSigError}. Component parameters (`;sf`, `;key`, `;req`, …) are refused as unsupported.
 */
export function parseSignature(header: HeaderFn, derived: (component: string) => string | undefined, pick: Pick): Parsed {
  const inputs = parseField(header, H_SIGNATURE_INPUT);
  const signatures = parseField(header, H_HTTP_SIGNATURE);
  let label: string;
  if (pick !== 'agentmesh') {
    label = pick.label;
  } else if (inputs.has(LABEL)) {
    label = LABEL;
  } else {
    const ours = [...inputs].filter(([l, e]) => l !== AGENT_LABEL && keyidIsDid(e)).map(([l]) => l);
    if (ours.length === 0) throw malformed('no signature in Signature-Input has a did:key keyid');
    if (ours.length > 1) throw malformed('several signatures have a did:key keyid and none is labelled am');
    label = ours[0]!;
  }
  const inner = inputs.get(label);
  if (!inner || !isInnerList(inner)) throw malformed(`Signature-Input has no inner list labelled ${label}`);
  const sigItem = signatures.get(label);
  if (!sigItem || isInnerList(sigItem) || !isByteSequence(sigItem[0])) {
    throw malformed(`Signature has no byte sequence labelled ${label}`);
  }
  const components: string[] = [];
  const lines: [string, string][] = [];
  for (const [bare, params] of inner[0]) {
    if (typeof bare !== 'string') throw malformed('a covered component is not a string');
    const name = bare;
    if (params.size > 0) throw malformed(`component parameters (${name};…) are not supported`);
    if (components.includes(name)) throw malformed(`${name} is covered twice`);
    let value: string;
    if (name.startsWith('@')) {
      const v = derived(name);
      if (v === undefined) throw malformed(`derived component ${name} is not supported`);
      value = v;
    } else if (/^[a-z0-9_.-]*$/.test(name)) {
      const v = header(name);
      if (v === undefined) throw malformed(`covered header ${name} is absent`);
      value = v.trim();
    } else {
      throw malformed(`${JSON.stringify(name)} is not a lowercase header name`);
    }
    components.push(name);
    lines.push([name, value]);
  }
  const params = readParams(inner[1]);
  let serialized: string;
  try {
    serialized = serializeInnerList(inner);
  } catch (e) {
    throw malformed(`Signature-Input: ${e instanceof Error ? e.message : 'cannot be serialized'}`);
  }
  const base = signatureBase(lines, serialized);
  return { label, components, params, base, signature: new Uint8Array(sigItem[0]) };
}

/**
 * The `nonce` of the request signature `parseSignature(…, 'agentmesh')` would read, if any (to sign
 * the answer to a request that was refused before it was verified).
 */
export function nonceOf(header: HeaderFn): string | undefined {
  const raw = header(H_SIGNATURE_INPUT);
  if (raw === undefined || raw.length > MAX_FIELD_BYTES) return undefined;
  let inputs: Dictionary;
  try {
    inputs = parseDictionary(raw);
  } catch {
    return undefined;
  }
  let entry = inputs.get(LABEL);
  if (!entry) {
    const ours = [...inputs].filter(([l]) => l !== AGENT_LABEL);
    if (ours.length === 1) entry = ours[0]![1];
  }
  if (!entry || !isInnerList(entry)) return undefined;
  const n = entry[1].get('nonce');
  return typeof n === 'string' ? n : undefined;
}

/** The three RFC 9421 headers of a set of signatures (`Content-Digest`, `Signature-Input`, `Signature`). */
export function signatureHeaders(body: Uint8Array | string, signed: readonly Signed[]): Record<'content-digest' | 'signature-input' | 'signature', string> {
  return {
    'content-digest': contentDigest(body),
    'signature-input': signed.map(inputMember).join(', '),
    signature: signed.map(signatureMember).join(', '),
  };
}

/**
 * The gateway's rewrite (docs/protocol.md §4b), for tests and intermediaries written in
 * TypeScript: the `am-agent` signature relabelled `am`, as `[Signature-Input, Signature]`;
 * `undefined` when there is none.
 */
export function forAgent(header: HeaderFn): [string, string] | undefined {
  try {
    const inputs = parseDictionary(header(H_SIGNATURE_INPUT) ?? '');
    const sigs = parseDictionary(header(H_HTTP_SIGNATURE) ?? '');
    const input = inputs.get(AGENT_LABEL);
    const sig = sigs.get(AGENT_LABEL);
    if (!input || !sig || !isInnerList(input) || isInnerList(sig) || !isByteSequence(sig[0])) return undefined;
    return [`${LABEL}=${serializeInnerList(input)}`, `${LABEL}=${serializeItem(sig)}`];
  } catch {
    return undefined;
  }
}
