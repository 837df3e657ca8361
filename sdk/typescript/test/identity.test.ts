/** Key files as the CLI keeps them: `<home>/keys/<name>.key`, 0600 in 0700, base64url seed. */

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { Identity, KeyStoreError, b64url, keysDir } from '../src/index.js';
import { tempHome } from './helpers.js';

let home: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir: home, cleanup } = await tempHome()));
after(() => cleanup());

test('save writes the CLI format; load reads it back', async () => {
  const id = Identity.generate();
  const file = await id.save('alice', home);
  assert.equal(file, path.join(home, 'keys', 'alice.key'));
  assert.equal(await readFile(file, 'utf8'), `${b64url(id.exportSeed())}\n`);
  if (process.platform !== 'win32') {
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
  }
  const back = await Identity.load('alice', home);
  assert.equal(back.agentId, id.agentId);
});

test('save refuses to replace a key unless forced', async () => {
  const a = Identity.generate();
  await a.save('bob', home);
  await assert.rejects(Identity.generate().save('bob', home), (e: unknown) => e instanceof KeyStoreError && e.code === 'exists');
  const b = Identity.generate();
  await b.save('bob', home, { force: true });
  assert.equal((await Identity.load('bob', home)).agentId, b.agentId);
});

test('a key file readable by others is refused', { skip: process.platform === 'win32' }, async () => {
  const file = await Identity.generate().save('carol', home);
  await chmod(file, 0o644);
  await assert.rejects(Identity.load('carol', home), (e: unknown) => e instanceof KeyStoreError && e.code === 'permissions' && /chmod 600/.test(e.message));
  await chmod(file, 0o640);
  await assert.rejects(Identity.load('carol', home), { code: 'permissions' });
  await chmod(file, 0o600);
  await Identity.load('carol', home);
});

test('missing, corrupt and badly named keys', async () => {
  await assert.rejects(Identity.load('nobody', home), { code: 'not_found' });
  await mkdir(path.join(home, 'keys'), { recursive: true, mode: 0o700 });
  const file = path.join(home, 'keys', 'broken.key');
  await writeFile(file, 'not a key\n', { mode: 0o600 });
  await assert.rejects(Identity.load('broken', home), { code: 'corrupt' });
  await writeFile(file, b64url(new Uint8Array(31)), { mode: 0o600 });
  await assert.rejects(Identity.load('broken', home), { code: 'corrupt' });
  // Whitespace around the secret is tolerated, as the CLI does.
  const id = Identity.generate();
  await writeFile(file, `  ${b64url(id.exportSeed())}\r\n\n`, { mode: 0o600 });
  assert.equal((await Identity.load('broken', home)).agentId, id.agentId);
  for (const bad of ['', '.hidden', 'a/b', '../x', 'x'.repeat(65), 'sp ace', 'é']) {
    await assert.rejects(Identity.load(bad, home), { code: 'bad_name' }, bad);
    await assert.rejects(Identity.generate().save(bad, home), { code: 'bad_name' }, bad);
  }
});

test('AGENTMESH_HOME decides the folder when no home is given', async () => {
  const before = process.env['AGENTMESH_HOME'];
  process.env['AGENTMESH_HOME'] = home;
  try {
    assert.equal(await keysDir(), path.join(home, 'keys'));
    const id = Identity.generate();
    await id.save('dave');
    assert.equal((await Identity.load('dave')).agentId, id.agentId);
  } finally {
    if (before === undefined) delete process.env['AGENTMESH_HOME'];
    else process.env['AGENTMESH_HOME'] = before;
  }
  if (process.platform === 'linux') {
    const saved = { h: process.env['AGENTMESH_HOME'], x: process.env['XDG_DATA_HOME'] };
    delete process.env['AGENTMESH_HOME'];
    process.env['XDG_DATA_HOME'] = '/xdg';
    try {
      assert.equal(await keysDir(), '/xdg/agentmesh/keys');
    } finally {
      if (saved.h !== undefined) process.env['AGENTMESH_HOME'] = saved.h;
      if (saved.x === undefined) delete process.env['XDG_DATA_HOME'];
      else process.env['XDG_DATA_HOME'] = saved.x;
    }
  }
});

test('loadOrCreateFile creates once, then reads', async () => {
  const file = path.join(home, 'agent', 'agent.key');
  const a = await Identity.loadOrCreateFile(file);
  const b = await Identity.loadOrCreateFile(file);
  assert.equal(a.agentId, b.agentId);
});
