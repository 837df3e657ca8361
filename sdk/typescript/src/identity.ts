/**
 * Identities: Ed25519 keys and their did:key IDs (docs/protocol.md §2), and the CLI's key files.
 *
 * An ID is `did:key:z` + base58btc(`0xed 0x01` ‖ public key), so the ID *is* the public key.
 * Key files are `<home>/keys/<name>.key`: the 32-byte secret (seed) in base64url without padding
 * and a newline, a 0600 file in a 0700 folder, written to a temporary file, fsynced and renamed.
 * A key file that others can read is refused, as the CLI (and ssh) do.
 * @module
 */

import { base58 } from '@scure/base';

import { isValidPublicKey, publicKeyOf, signBytes, type VerifyKey } from './ed25519.js';
import { b64url, b64urlDecode, concatBytes, randomBytes, toBytes } from './encoding.js';
import { InvalidIdError, KeyStoreError } from './errors.js';

/** The multicodec prefix of an Ed25519 public key (varint 0xed). */
const ED25519_MULTICODEC = Uint8Array.of(0xed, 0x01);
/** Every Ed25519 did:key starts with this. */
export const DID_KEY_PREFIX = 'did:key:z6Mk';

/** The did:key of a 32-byte Ed25519 public key. */
export function didFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new TypeError('an Ed25519 public key is 32 bytes');
  return 'did:key:z' + base58.encode(concatBytes(ED25519_MULTICODEC, publicKey));
}

/** Shortens untrusted input before it is echoed in an error. */
function short(s: string): string {
  const chars = [...s];
  return chars.length > 80 ? chars.slice(0, 80).join('') + '…' : s;
}

/**
 * The 32-byte public key of a did:key, checking every part of its form: the `did:key:z` prefix,
 * base58btc, the Ed25519 multicodec, exactly 32 key bytes, a canonical point encoding, and not a
 * small-order ("weak") key. Throws {@link InvalidIdError} otherwise.
 */
export function publicKeyFromDid(did: string): Uint8Array {
  if (typeof did !== 'string' || !did.startsWith('did:key:z')) {
    throw new InvalidIdError(`\`${short(String(did))}\` is not a did:key (expected \`did:key:z6Mk…\`)`);
  }
  const multibase = did.slice('did:key:z'.length);
  // 34 bytes encode to at most 47 base58 characters; refuse long junk before decoding it.
  if (multibase.length > 60) throw new InvalidIdError(`\`${short(did)}\` is not an Ed25519 did:key`);
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(multibase);
  } catch {
    throw new InvalidIdError(`\`${short(did)}\` is not valid base58btc`);
  }
  // A fixed length whose first byte is non-zero (0xed) has one base58 spelling, so a 34-byte
  // decode starting 0xed 0x01 is the canonical ID.
  if (bytes.length !== 34 || bytes[0] !== 0xed || bytes[1] !== 0x01) {
    throw new InvalidIdError(`\`${short(did)}\` is not an Ed25519 did:key`);
  }
  const raw = bytes.slice(2);
  if (!isValidPublicKey(raw)) throw new InvalidIdError(`\`${short(did)}\` is not an Ed25519 did:key`);
  return raw;
}

/** Whether `did` is a valid Ed25519 did:key. */
export function isAgentId(did: string): boolean {
  try {
    publicKeyFromDid(did);
    return true;
  } catch {
    return false;
  }
}

/** Abbreviates an ID for logs: `z6Mk…wxyz1234`. */
export function shortId(did: string): string {
  if (!did.startsWith(DID_KEY_PREFIX)) return did;
  const rest = [...did.slice(DID_KEY_PREFIX.length)];
  return rest.length > 8 ? 'z6Mk…' + rest.slice(-8).join('') : did;
}

/** A bounded cache of decoded caller keys: decoding costs a point decompression, callers repeat. */
const KEY_CACHE_MAX = 65_536;
const keyCache = new Map<string, VerifyKey>();

/** The verification key of `did` (cached); throws {@link InvalidIdError}. */
export function verifyKeyOf(did: string): VerifyKey {
  const hit = keyCache.get(did);
  if (hit) return hit;
  const key: VerifyKey = { raw: publicKeyFromDid(did) };
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(did, key);
  return key;
}

/** Options of {@link Identity.save}. */
export interface KeyFileOptions {
  /** Replace an existing key (the CLI's `keygen --force`); its identity is lost. */
  force?: boolean;
}

/** Key names become file names: 1–64 of A–Z a–z 0–9 . _ -, not starting with `.`. */
function checkName(name: string): void {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.')) {
    throw new KeyStoreError(
      'bad_name',
      `invalid key name \`${short(String(name))}\`: use 1–64 of A–Z a–z 0–9 . _ -, not starting with \`.\``,
    );
  }
}

interface NodeModules {
  fs: typeof import('node:fs/promises');
  fsc: typeof import('node:fs');
  path: typeof import('node:path');
  os: typeof import('node:os');
  env: Record<string, string | undefined>;
  platform: string;
  pid: number;
}

/** Node's file system modules, loaded only when keys are read or written (not in workers). */
async function nodeModules(): Promise<NodeModules> {
  const proc = (globalThis as { process?: { env: Record<string, string | undefined>; platform: string; pid: number } })
    .process;
  if (!proc) throw new KeyStoreError('io', 'key files need a file system (Node.js, Deno or Bun)');
  const [fs, fsc, path, os] = await Promise.all([
    import('node:fs/promises'),
    import('node:fs'),
    import('node:path'),
    import('node:os'),
  ]);
  return { fs, fsc, path, os, env: proc.env, platform: proc.platform, pid: proc.pid };
}

/**
 * The folder key files live in, as the CLI resolves it: `<home>/keys` for an explicit home or
 * `AGENTMESH_HOME`, else the platform's data folder (`$XDG_DATA_HOME/agentmesh/keys` or
 * `~/.local/share/agentmesh/keys` on Linux, `~/Library/Application Support/agentmesh/keys` on
 * macOS, `%APPDATA%\agentmesh\data\keys` on Windows).
 */
export async function keysDir(home?: string): Promise<string> {
  const m = await nodeModules();
  const h = home ?? (m.env['AGENTMESH_HOME'] || undefined);
  if (h !== undefined) return m.path.join(h, 'keys');
  const userHome = m.os.homedir();
  if (m.platform === 'darwin') return m.path.join(userHome, 'Library', 'Application Support', 'agentmesh', 'keys');
  if (m.platform === 'win32') {
    const roaming = m.env['APPDATA'] || m.path.join(userHome, 'AppData', 'Roaming');
    return m.path.join(roaming, 'agentmesh', 'data', 'keys');
  }
  const xdg = m.env['XDG_DATA_HOME'];
  const data = xdg && m.path.isAbsolute(xdg) ? xdg : m.path.join(userHome, '.local', 'share');
  return m.path.join(data, 'agentmesh', 'keys');
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

const SEED = Symbol('seed');

/** An Ed25519 key pair and its did:key. The secret half is never printed or serialized. */
export class Identity {
  /** The did:key of this identity. */
  readonly agentId: string;
  /** The 32-byte public key. */
  readonly publicKey: Uint8Array;
  private readonly [SEED]: Uint8Array;

  private constructor(seed: Uint8Array) {
    this[SEED] = seed;
    this.publicKey = publicKeyOf(seed);
    this.agentId = didFromPublicKey(this.publicKey);
  }

  /** A fresh key from the platform's cryptographic random source. */
  static generate(): Identity {
    return new Identity(randomBytes(32));
  }

  /** The key whose RFC 8032 secret (seed) is these 32 bytes. */
  static fromSeed(seed: Uint8Array): Identity {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new TypeError('an Ed25519 seed is 32 bytes');
    }
    return new Identity(seed.slice());
  }

  /**
   * Loads `<home>/keys/<name>.key` as the CLI writes it (see {@link keysDir} for `home`). Throws
   * {@link KeyStoreError}: `not_found`, `permissions` (the file is readable by group or others),
   * `corrupt`, `bad_name`, `io`.
   *
   * Keys the CLI put in the OS keyring (its default where one answers) are not files: create
   * keys for the SDK with `AGENTMESH_KEYSTORE=file agentmesh keygen` or {@link Identity.save}.
   */
  static async load(name = 'default', home?: string): Promise<Identity> {
    checkName(name);
    const m = await nodeModules();
    const file = m.path.join(await keysDir(home), `${name}.key`);
    const id = await readKeyFile(m, file);
    if (!id) {
      throw new KeyStoreError(
        'not_found',
        `no key named \`${name}\` (no file ${file}; a key the CLI stored in the OS keyring cannot be read here — use AGENTMESH_KEYSTORE=file)`,
        file,
      );
    }
    return id;
  }

  /**
   * Loads the key `name` (as {@link Identity.load}), or creates it and saves it there if there is
   * none yet: what an agent does on its first start.
   */
  static async loadOrCreate(name = 'default', home?: string): Promise<Identity> {
    try {
      return await Identity.load(name, home);
    } catch (e) {
      if (!(e instanceof KeyStoreError) || e.code !== 'not_found') throw e;
    }
    const id = Identity.generate();
    try {
      await id.save(name, home);
      return id;
    } catch (e) {
      // Created by someone else meanwhile: theirs wins.
      if (e instanceof KeyStoreError && e.code === 'exists') return Identity.load(name, home);
      throw e;
    }
  }

  /**
   * Loads the key file at `file` (the node's `node.key`, or any path), creating it with a fresh
   * key if it does not exist — what `examples/verify_agent.rs` does.
   */
  static async loadOrCreateFile(file: string): Promise<Identity> {
    const m = await nodeModules();
    const found = await readKeyFile(m, file);
    if (found) return found;
    const id = Identity.generate();
    await writeKeyFile(m, m.path.dirname(file), file, id[SEED]);
    return id;
  }

  /**
   * Saves this key as `<home>/keys/<name>.key` (see {@link keysDir} for `home`; 0600 in a 0700
   * folder, temp file + fsync + rename), readable by the CLI as `--key <name>` with the file key
   * store. Refuses to replace an existing key (`exists`) unless `force`. Returns the file's path.
   */
  async save(name = 'default', home?: string, options: KeyFileOptions = {}): Promise<string> {
    checkName(name);
    const m = await nodeModules();
    const dir = await keysDir(home);
    const file = m.path.join(dir, `${name}.key`);
    if (!options.force) {
      try {
        await m.fs.lstat(file);
        throw new KeyStoreError('exists', `a key named \`${name}\` already exists (${file})`, file);
      } catch (e) {
        if (e instanceof KeyStoreError) throw e;
        if (errnoOf(e) !== 'ENOENT') throw new KeyStoreError('io', `cannot stat ${file}: ${String(e)}`, file, e);
      }
    }
    await writeKeyFile(m, dir, file, this[SEED]);
    return file;
  }

  /** Signs `data` (a string is signed as its UTF-8 bytes): the 64-byte Ed25519 signature. */
  sign(data: Uint8Array | string): Uint8Array {
    return signBytes(this[SEED], toBytes(data));
  }

  /** Signs `data` and returns the signature as base64url. */
  signB64(data: Uint8Array | string): string {
    return b64url(this.sign(data));
  }

  /** The 32-byte secret (seed). Handle with care. */
  exportSeed(): Uint8Array {
    return this[SEED].slice();
  }

  /** Never the secret. */
  toJSON(): { agentId: string } {
    return { agentId: this.agentId };
  }

  /** Never the secret. */
  toString(): string {
    return `Identity(${this.agentId})`;
  }

  /** Never the secret (Node's `util.inspect`, `console.log`). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

async function readKeyFile(m: NodeModules, file: string): Promise<Identity | undefined> {
  let text: string;
  try {
    text = await m.fs.readFile(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw new KeyStoreError('io', `cannot read ${file}: ${String(e)}`, file, e);
  }
  if (m.platform !== 'win32') {
    let mode: number;
    try {
      mode = (await m.fs.stat(file)).mode;
    } catch (e) {
      throw new KeyStoreError('io', `cannot stat ${file}: ${String(e)}`, file, e);
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyStoreError(
        'permissions',
        `key file ${file} is readable by other users; run \`chmod 600\` on it`,
        file,
      );
    }
  }
  const seed = b64urlDecode(text.trim());
  if (!seed || seed.length !== 32) {
    throw new KeyStoreError('corrupt', `the stored key is corrupt (not a 32-byte base64url secret): ${file}`, file);
  }
  return Identity.fromSeed(seed);
}

async function writeKeyFile(m: NodeModules, dir: string, file: string, seed: Uint8Array): Promise<void> {
  try {
    await m.fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new KeyStoreError('io', `cannot create ${dir}: ${String(e)}`, dir, e);
  }
  const tmp = `${file}.tmp${m.pid}`;
  await m.fs.rm(tmp, { force: true });
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await m.fs.open(tmp, m.fsc.constants.O_WRONLY | m.fsc.constants.O_CREAT | m.fsc.constants.O_EXCL, 0o600);
  } catch (e) {
    throw new KeyStoreError('io', `cannot create ${tmp}: ${String(e)}`, tmp, e);
  }
  try {
    await handle.writeFile(`${b64url(seed)}\n`, 'utf8');
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await m.fs.rm(tmp, { force: true });
    throw new KeyStoreError('io', `cannot write ${tmp}: ${String(e)}`, tmp, e);
  }
  await handle.close();
  try {
    await m.fs.rename(tmp, file);
  } catch (e) {
    await m.fs.rm(tmp, { force: true });
    throw new KeyStoreError('io', `cannot rename into ${file}: ${String(e)}`, file, e);
  }
  // Make the rename itself durable (not possible on Windows; best effort elsewhere).
  try {
    const d = await m.fs.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}
