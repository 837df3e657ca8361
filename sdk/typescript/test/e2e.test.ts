/**
 * End to end against a real node (the agentmesh binary, $AGENTMESH_BIN or target/debug/agentmesh):
 * an Express agent with the middleware is registered, discovered and invoked through the gateway
 * and through a relay tunnel held by `agentmesh connect`; the middleware verifies the caller and
 * signs, the caller verifies the answer; the middleware refuses replays, wrong targets, tampered
 * bodies and stale timestamps with the node's codes. Everything listens on 127.0.0.1, free ports,
 * a temporary AGENTMESH_HOME; every child is killed at the end.
 */

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import * as hms03 from 'http-message-sig-0.3';
import { verify as wbaVerify } from 'web-bot-auth';
import { verifierFromJWK } from 'web-bot-auth/crypto';

import {
  Identity,
  NodeClient,
  NodeError,
  jwkThumbprint,
  nowUnix,
  signHttpRequest,
  signRequest,
  verifyResponse,
  type InvokeResponse,
} from '../src/index.js';
import { signedCall, startAgent, type RawAnswer, type TestAgent } from './agent.js';
import { Child, agentmeshBin, run, tempHome, until } from './helpers.js';

describe('end to end with a real node', () => {
  let bin: string;
  let home: string;
  let cleanupHome: () => Promise<void>;
  let env: Record<string, string>;
  let node: Child;
  let nodeUrl: string;
  let agent: TestAgent;
  let relayed: TestAgent | undefined;
  let connect: Child | undefined;
  const examples: Child[] = [];
  const caller = Identity.generate();
  let client: NodeClient;

  before(async () => {
    bin = agentmeshBin();
    ({ dir: home, cleanup: cleanupHome } = await tempHome());
    env = { AGENTMESH_HOME: home, AGENTMESH_KEYSTORE: 'file', AGENTMESH_LOG_FORMAT: 'json', RUST_LOG: 'warn' };
    node = new Child(bin, ['serve', '--listen', '127.0.0.1:0', '--json'], env);
    const line = await until('the node to listen', () => {
      if (!node.running) throw new Error(`the node exited: ${node.stderr.slice(-2000)}`);
      return node.stdout.split('\n').find((l) => l.includes('"listening"'));
    });
    nodeUrl = (JSON.parse(line) as { url: string }).url;
    await until('the node to answer /healthz', async () => ((await fetch(`${nodeUrl}/healthz`)).ok ? true : undefined));
    agent = await startAgent(Identity.generate());
    client = new NodeClient(nodeUrl, caller);
  });

  after(async () => {
    await connect?.stop();
    for (const ex of examples) await ex.stop();
    await node?.stop();
    await agent?.close();
    await relayed?.close();
    await cleanupHome?.();
  });

  test('the CLI and the SDK read each other’s key files', async () => {
    const made = await run(bin, ['keygen', '--name', 'cli-made', '--json'], env);
    assert.equal(made.code, 0, made.stderr);
    const printed = (JSON.parse(made.stdout) as { agent_id: string }).agent_id;
    assert.equal((await Identity.load('cli-made', home)).agentId, printed);
    const mine = Identity.generate();
    await mine.save('sdk-made', home);
    const dry = await run(bin, ['register', '--key', 'sdk-made', '--name', 'x', '--endpoint', 'http://127.0.0.1:9', '--dry-run', '--json'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal((JSON.parse(dry.stdout) as { manifest: { agent_id: string } }).manifest.agent_id, mine.agentId);
  });

  test('register, get and discover the agent', async () => {
    const owner = new NodeClient(nodeUrl, agent.identity);
    const reg = await owner.register({
      name: 'ts-echo',
      description: 'Echoes JSON payloads back to the caller, for the TypeScript SDK tests',
      tags: ['echo', 'test'],
      protocols: ['http'],
      endpoint: agent.url,
      skills: [{ id: 'echo', name: 'Echo', tags: ['json'] }],
      meta: { sdk: 'typescript' },
    });
    assert.equal(reg.status, 'created');
    assert.equal(reg.agent_id, agent.identity.agentId);
    // The same second again: the client signs the next second, the node takes it as newer.
    const again = await owner.register({
      name: 'ts-echo',
      description: 'Echoes JSON payloads back to the caller',
      tags: ['echo', 'test'],
      protocols: ['http'],
      endpoint: agent.url,
    });
    assert.ok(again.card.manifest.issued_at > reg.card.manifest.issued_at);
    assert.equal(again.status, 'updated');
    const card = await client.get(agent.identity.agentId);
    assert.equal(card.manifest.name, 'ts-echo');
    assert.equal(card.manifest.endpoint, agent.url);
    const found = await client.discover({ q: 'echo json payloads', tags: ['echo'], protocol: 'http', minTrust: 0, limit: 5 });
    assert.equal(found.rejected, 0);
    assert.equal(found.results[0]?.agent_id, agent.identity.agentId);
    assert.ok(found.results[0]!.score > 0);
    const none = await client.discover({ tags: ['no-such-tag'] });
    assert.equal(none.results.length, 0);
    await assert.rejects(client.get(Identity.generate().agentId), (e: unknown) => e instanceof NodeError && e.status === 404 && e.code === 'not_found');
  });

  test('invoke through the gateway: the agent verifies the caller, the caller verifies the answer', async () => {
    const res = await client.invoke(agent.identity.agentId, { path: '/echo?via=gateway', json: { city: 'Paris' } });
    assert.equal(res.status, 200, res.text());
    assert.equal(res.signed, true);
    assert.equal(res.verified, true);
    assert.deepEqual(res.json(), { caller: caller.agentId, got: { city: 'Paris' }, query: { via: 'gateway' } });
    assert.deepEqual(agent.seen.at(-1), { caller: caller.agentId, path: '/echo?via=gateway', body: { city: 'Paris' } });
    // Both forms reached the agent: X-Agent-*, and am-agent relabelled am by the gateway.
    assert.deepEqual(agent.signedWith.at(-1)?.forms, ['x-agent', 'rfc9421']);
    assert.match(agent.signedWith.at(-1)!.headers['signature-input'] ?? '', /^am=\(/);
    const hello = await client.invoke(agent.identity.agentId, { path: '/hello', requireSignature: true });
    assert.deepEqual(hello.json(), { hello: caller.agentId });
    // The root path is the endpoint itself.
    const root = await client.invoke(agent.identity.agentId);
    assert.equal(root.status, 200);
    assert.deepEqual(root.json(), { root: true, caller: caller.agentId });
  });

  test('invoke directly at the endpoint', async () => {
    const res = await client.invoke(agent.identity.agentId, { path: '/echo', json: [1, 2, 3], direct: true });
    assert.equal(res.status, 200);
    assert.equal(res.verified, true);
    assert.deepEqual((res.json() as { got: unknown }).got, [1, 2, 3]);
    assert.deepEqual(agent.signedWith.at(-1)?.forms, ['x-agent', 'rfc9421']);
  });

  test('RFC 9421 only: the node’s gateway admits it, the agent checks am-agent', async () => {
    const id = agent.identity.agentId;
    const res = await client.invoke(id, { path: '/echo?form=rfc9421', json: { only: 'rfc9421' }, forms: 'rfc9421', requireSignature: true });
    assert.equal(res.status, 200, res.text());
    assert.deepEqual(res.json(), { caller: caller.agentId, got: { only: 'rfc9421' }, query: { form: 'rfc9421' } });
    assert.deepEqual(agent.signedWith.at(-1)?.forms, ['rfc9421']);
    assert.equal(agent.signedWith.at(-1)!.headers['x-agent-id'], undefined);
    // The answer came back signed in both forms, each verified on its own.
    assert.ok(res.headers.get('x-agent-signature') && res.headers.get('signature-input'));
    // Without am-agent the gateway still admits the call; the agent then has nothing to verify
    // and refuses it itself (its refusal is signed by its key, which the caller checks).
    const url = `${nodeUrl}/v1/agents/${id}/invoke/hello`;
    const bare = signHttpRequest(caller, { target: id, method: 'GET', url, pathAndQuery: '/hello', forms: 'rfc9421' });
    const r = await fetch(url, { headers: bare as Record<string, string> });
    const body = new Uint8Array(await r.arrayBuffer());
    assert.equal(r.status, 401);
    assert.equal((JSON.parse(new TextDecoder().decode(body)) as { error: { code: string } }).error.code, 'missing_header');
    assert.equal(r.headers.get('x-agent-id'), id, 'refused by the agent, not the node');
  });

  test('RFC 9421 refusals: the node’s gateway and the SDK middleware give the same code', async () => {
    const id = agent.identity.agentId;
    const gateway = `${nodeUrl}/v1/agents/${id}/invoke`;
    const cases: { name: string; opts: Parameters<typeof signedCall>[3]; code: string }[] = [
      { name: 'tampered body', opts: { path: '/echo', body: '{"amount":1000}', signedBody: '{"amount":1}' }, code: 'bad_signature' },
      { name: 'another path', opts: { path: '/echo?to=mallory', body: '{}', signedPath: '/echo?to=alice' }, code: 'bad_signature' },
      { name: 'stale (past)', opts: { path: '/hello', timestamp: nowUnix() - 600 }, code: 'stale_timestamp' },
      { name: 'stale (future)', opts: { path: '/hello', timestamp: nowUnix() + 600 }, code: 'stale_timestamp' },
      { name: 'no Signature', opts: { path: '/hello', drop: 'signature' }, code: 'missing_header' },
      { name: 'short nonce', opts: { path: '/hello', nonce: 'c2hvcnQ' }, code: 'bad_signature' },
    ];
    for (const c of cases) {
      const direct = await signedCall(agent.url, caller, id, { ...c.opts, forms: 'rfc9421' });
      assert.equal(direct.status, 401, `${c.name}: ${direct.text}`);
      assert.equal((JSON.parse(direct.text) as { error: { code: string } }).error.code, c.code, `${c.name} at the agent`);
      const gw = await signedCall(gateway, caller, id, { ...c.opts, forms: 'rfc9421' });
      assert.equal(gw.status, 401, `${c.name}: ${gw.text}`);
      assert.equal((JSON.parse(gw.text) as { error: { code: string } }).error.code, c.code, `${c.name} at the node`);
    }
    // A replay across forms: the same nonce, RFC 9421 then X-Agent-*, at the node and at the agent.
    for (const base of [gateway, agent.url]) {
      const nonce = Buffer.from(`replay-across-forms-${base.length}`).toString('base64url');
      const first = await signedCall(base, caller, id, { path: '/hello', forms: 'rfc9421', nonce });
      // Admitted (at the gateway, which got no am-agent, the agent answers; its refusal is its own).
      assert.equal(first.headers.get('x-agent-id'), id, first.text);
      const again = await signedCall(base, caller, id, { path: '/hello', forms: 'x-agent', nonce });
      assert.equal((JSON.parse(again.text) as { error: { code: string } }).error.code, 'replayed_nonce', base);
    }
  });

  test('Web Bot Auth: a direct call carries wba, which Cloudflare’s web-bot-auth verifies with the key from the node’s directory', async () => {
    // The caller registers, so the node serves its key directory (signed by it, for this node).
    const reg = await client.register({ name: 'ts-caller', description: 'calls agents', endpoint: 'http://127.0.0.1:9' });
    const dir = reg.card.manifest.meta?.['httpsig_directory'] as { authority: string; signature_input: string; signature: string };
    assert.equal(dir.authority, new URL(nodeUrl).host);
    const res = await client.invoke(agent.identity.agentId, { path: '/echo?wba=1', json: { bot: true }, direct: true, webBotAuth: true });
    assert.equal(res.status, 200, res.text());
    assert.equal(res.verified, true);
    const seen = agent.signedWith.at(-1)!;
    assert.deepEqual(seen.forms, ['x-agent', 'rfc9421'], 'the agent checked am; wba is for websites');
    const h = seen.headers;
    const signatureAgent = h['signature-agent']!;
    const directory = /^wba="([^"]+)";type=jwks_uri$/.exec(signatureAgent)![1]!;
    assert.equal(directory, `${nodeUrl}/v1/agents/${caller.agentId}/http-message-signatures-directory`);
    // The site fetches the directory the signature names …
    const d = await fetch(directory);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-type'), 'application/http-message-signatures-directory+json');
    assert.equal(d.headers.get('signature'), dir.signature, 'served with the signature the agent made at registration');
    assert.equal(d.headers.get('signature-input'), dir.signature_input);
    const jwks = (await d.json()) as { keys: (JsonWebKey & { kid: string })[] };
    const key = jwks.keys[0]!;
    assert.equal(key.kid, jwkThumbprint(caller.publicKey));
    // … and verifies the wba signature with Cloudflare's package (one signature per request: the
    // wba members; the Signature-Agent component value, as web-bot-auth 0.1.3 reads the field whole).
    const member = (field: string): string => h[field]!.split(/,\s*(?=[a-z][a-z0-9_.*-]*=)/).find((m) => m.startsWith('wba='))!;
    const url = `${agent.url}/echo?wba=1`;
    const body = JSON.stringify({ bot: true });
    const wbaRequest = new Request(url, {
      method: 'POST',
      headers: {
        'signature-input': member('signature-input'),
        signature: member('signature'),
        'signature-agent': signatureAgent.replace(/^wba=/, ''),
        'content-digest': h['content-digest']!,
      },
      body,
    });
    await wbaVerify(wbaRequest, await verifierFromJWK(key));
    // A complete RFC 9421 verifier checks it as received, beside am.
    const full = new Request(url, { method: 'POST', headers: h, body });
    const verified = await hms03.verifySignature(full, {
      label: 'wba',
      policy: { algorithms: ['ed25519'], requiredComponents: ['@authority', hms03.component('signature-agent', { key: 'wba' })], requiredParameters: ['keyid', 'tag', 'nonce'], clockSkew: 60 },
      resolveVerifier: async () => hms03.webcrypto.verifier(await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: key.x! }, { name: 'Ed25519' }, false, ['verify'])),
    });
    assert.equal(verified.parameters.keyid, key.kid);
    await assert.rejects(client.invoke(agent.identity.agentId, { webBotAuth: true }), TypeError, 'gateway calls cannot carry wba');
  });

  test('the CLI calls the SDK agent, and verifies its signed answer', async () => {
    const out = await run(bin, ['invoke', agent.identity.agentId, '--node', nodeUrl, '--key', 'cli-made', '--path', '/echo', '--data', '{"x":1}', '--json'], env);
    assert.equal(out.code, 0, out.stderr);
    const v = JSON.parse(out.stdout) as { status: number; response_verified: boolean; body: { caller: string; got: unknown } };
    assert.equal(v.status, 200);
    assert.equal(v.response_verified, true);
    assert.deepEqual(v.body.got, { x: 1 });
    assert.equal(v.body.caller, (await Identity.load('cli-made', home)).agentId);
  });

  /** Checks a refusal: status 401, the code, the node's shape, and the agent's signature on it. */
  async function refusedByAgent(a: RawAnswer, code: string): Promise<void> {
    assert.equal(a.status, 401, a.text);
    assert.deepEqual(Object.keys(JSON.parse(a.text) as object), ['error']);
    assert.equal((JSON.parse(a.text) as { error: { code: string } }).error.code, code);
    await verifyResponse({ agentId: agent.identity.agentId, status: a.status, requestNonce: a.nonce, headers: a.headers, body: a.body });
  }

  test('a request the gateway forwarded, replayed at the agent, is refused: replayed_nonce', async () => {
    const id = agent.identity.agentId;
    const s = signRequest(caller, { target: id, method: 'POST', pathAndQuery: '/echo', body: '{"pay":1}' });
    const headers = { ...s, 'content-type': 'application/json' };
    const via = await fetch(`${nodeUrl}/v1/agents/${id}/invoke/echo`, { method: 'POST', headers, body: '{"pay":1}' });
    assert.equal(via.status, 200);
    await via.arrayBuffer();
    // Someone who saw the forwarded request sends it again, straight to the agent.
    const replay = await fetch(`${agent.url}/echo`, { method: 'POST', headers, body: '{"pay":1}' });
    const body = new Uint8Array(await replay.arrayBuffer());
    await refusedByAgent({ status: replay.status, headers: replay.headers, body, text: new TextDecoder().decode(body), nonce: s['x-agent-nonce'] }, 'replayed_nonce');
    // …and the node refuses it as well, with the same code.
    const atNode = await fetch(`${nodeUrl}/v1/agents/${id}/invoke/echo`, { method: 'POST', headers, body: '{"pay":1}' });
    assert.equal(atNode.status, 401);
    assert.equal(((await atNode.json()) as { error: { code: string } }).error.code, 'replayed_nonce');
  });

  test('the middleware refuses a wrong target, a tampered body and stale timestamps with the node’s codes', async () => {
    const id = agent.identity.agentId;
    const cases: { name: string; opts: Parameters<typeof signedCall>[3]; target?: string; code: string }[] = [
      { name: 'wrong target', opts: { path: '/hello' }, target: Identity.generate().agentId, code: 'wrong_target' },
      { name: 'tampered body', opts: { path: '/echo', body: '{"amount":1000}', signedBody: '{"amount":1}' }, code: 'bad_signature' },
      { name: 'stale (past)', opts: { path: '/hello', timestamp: nowUnix() - 600 }, code: 'stale_timestamp' },
      { name: 'stale (future)', opts: { path: '/hello', timestamp: nowUnix() + 600 }, code: 'stale_timestamp' },
      { name: 'no nonce', opts: { path: '/hello', drop: 'x-agent-nonce' }, code: 'missing_header' },
    ];
    for (const c of cases) {
      const before = agent.seen.length;
      const direct = await signedCall(agent.url, caller, c.target ?? id, c.opts);
      await refusedByAgent(direct, c.code);
      assert.equal(agent.seen.length, before, `${c.name}: never reached the handler`);
      // The node's gateway answers the same request with the same code.
      const gw = await signedCall(`${nodeUrl}/v1/agents/${id}/invoke`, caller, c.target ?? id, c.opts);
      assert.equal(gw.status, 401, c.name);
      assert.equal((JSON.parse(gw.text) as { error: { code: string } }).error.code, c.code, `${c.name} at the node`);
    }
  });

  test('through a relay tunnel held by `agentmesh connect`', async () => {
    const id = Identity.generate();
    await id.save('relayed', home);
    relayed = await startAgent(id);
    connect = new Child(
      bin,
      ['connect', '--node', nodeUrl, '--key', 'relayed', '--forward', relayed.url, '--register', '--name', 'ts-relayed', '--json'],
      env,
    );
    await until(
      'the tunnel and the relay:// card',
      async () => {
        if (!connect!.running) throw new Error(`connect exited: ${connect!.stderr.slice(-2000)}`);
        const card = await client.get(id.agentId).catch(() => undefined);
        const info = await client.nodeInfo();
        return card?.manifest.endpoint === `relay://${id.agentId}` && Number(info['tunnels']) >= 1 ? true : undefined;
      },
      30_000,
    );
    let res: InvokeResponse | undefined;
    // The tunnel is up once the node counts it; poll only for the first answer (no sleeping).
    res = await until('an answer through the tunnel', async () => {
      const r = await client.invoke(id.agentId, { path: '/echo?via=relay', json: { hop: 'relay' } });
      return r.status === 503 ? undefined : r;
    });
    assert.equal(res.status, 200, res.text());
    assert.equal(res.verified, true, 'connect signs with the agent key; the caller verifies');
    assert.deepEqual(res.json(), { caller: caller.agentId, got: { hop: 'relay' }, query: { via: 'relay' } });
    assert.deepEqual(relayed.seen.at(-1), { caller: caller.agentId, path: '/echo?via=relay', body: { hop: 'relay' } });
    // am-agent (@authority = the agent's did:key, lowercased) reached the agent through connect.
    assert.deepEqual(relayed.signedWith.at(-1)?.forms, ['x-agent', 'rfc9421']);
    const rfcOnly = await client.invoke(id.agentId, { path: '/hello', forms: 'rfc9421', requireSignature: true });
    assert.equal(rfcOnly.status, 200, rfcOnly.text());
    assert.deepEqual(relayed.signedWith.at(-1)?.forms, ['rfc9421']);
    // A replay through the relay is refused (by the node first; the agent would refuse it too).
    const s = signRequest(caller, { target: id.agentId, method: 'GET', pathAndQuery: '/hello' });
    const first = await fetch(`${nodeUrl}/v1/agents/${id.agentId}/invoke/hello`, { headers: s });
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    const second = await fetch(`${nodeUrl}/v1/agents/${id.agentId}/invoke/hello`, { headers: s });
    assert.equal(second.status, 401);
    assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'replayed_nonce');
  });

  test('the examples run: the agent registers, the caller finds it and gets a verified answer', async () => {
    const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples');
    const exEnv = { ...env, AGENTMESH_NODE: nodeUrl, PORT: '0' };
    const ex = new Child(process.execPath, [path.join(dir, 'agent.js')], exEnv);
    examples.push(ex);
    await until('the example agent to register', () => {
      if (!ex.running) throw new Error(`the example agent exited: ${ex.stderr.slice(-2000)}`);
      return /listening on http:\/\/127\.0\.0\.1:\d+/.test(ex.stdout) ? true : undefined;
    });
    const out = await run(process.execPath, [path.join(dir, 'caller.js')], exEnv);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^200 verified \{/);
    assert.match(out.stdout, /forecast: 'sunny'/);
    assert.match(out.stdout, new RegExp((await Identity.load('caller', home)).agentId));
  });

  test('revoke: the card is gone from get, discovery and the gateway', async () => {
    const owner = new NodeClient(nodeUrl, agent.identity);
    const r = await owner.revoke();
    assert.equal(r.status, 'revoked');
    await assert.rejects(client.get(agent.identity.agentId), (e: unknown) => e instanceof NodeError && e.status === 410);
    const found = await client.discover({ q: 'echo json payloads' });
    assert.ok(!found.results.some((h) => h.agent_id === agent.identity.agentId));
    const res = await client.invoke(agent.identity.agentId, { path: '/hello' });
    assert.equal(res.status, 410);
    assert.equal(res.signed, false);
    assert.equal(res.error()?.code, 'revoked');
  });
});
