/**
 * Interop with independent RFC 9421 implementations (pinned devDependencies):
 * - Cloudflare's `web-bot-auth` (0.1.3) verifies the Web Bot Auth signature this SDK makes;
 * - Cloudflare's `http-message-sig` 0.2.0 (what web-bot-auth 0.1.3 is built on) and 0.3.0 (the
 *   current release, a full RFC 9421 implementation) sign requests with a did:key keyid that this
 *   SDK's verifier accepts, and 0.3.0 verifies this SDK's `am`, `wba` and answer signatures.
 * Known limits of the stock packages are pinned here too, so an upgrade that changes them shows.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import * as hms02 from 'http-message-sig';
import * as hms03 from 'http-message-sig-0.3';
import { Ed25519Signer, verifierFromJWK } from 'web-bot-auth/crypto';
import { signatureHeaders as wbaSignatureHeaders, verify as wbaVerify } from 'web-bot-auth';

import {
  Identity,
  NonceCache,
  contentDigest,
  directoryUrl,
  jwkThumbprint,
  nowUnix,
  publicKeyFromDid,
  signHttpRequest,
  signResponseBoth,
  verifySignedRequest,
} from '../src/index.js';
import { b64url, randomBytes } from '../src/encoding.js';

/** An identity with its seed, so WebCrypto can hold the same key. */
function keyPair(): { id: Identity; privateJwk: JsonWebKey; publicJwk: JsonWebKey } {
  const seed = randomBytes(32);
  const id = Identity.fromSeed(seed);
  const x = b64url(id.publicKey);
  return { id, privateJwk: { kty: 'OKP', crv: 'Ed25519', x, d: b64url(seed) }, publicJwk: { kty: 'OKP', crv: 'Ed25519', x } };
}

const AM_COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest'];
const agent = Identity.generate();
const BODY = '{"city":"Paris"}';

/** This SDK's verifier, as an agent at 127.0.0.1:8080 sees the request. */
function sdkVerify(method: string, url: string, headers: Record<string, string> | Headers, body = BODY) {
  const u = new URL(url);
  return verifySignedRequest({
    method,
    pathAndQuery: u.pathname + u.search,
    headers,
    body,
    me: agent,
    nonceCache: new NonceCache(),
    wire: { authority: u.host },
  });
}

function headersOf(h: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined));
}

describe('web-bot-auth 0.1.3 (Cloudflare) verifies the SDK’s Web Bot Auth signature', () => {
  const { id, publicJwk } = keyPair();
  const url = 'https://example.com/page?x=1';
  const directory = directoryUrl('http://127.0.0.1:7070', id.agentId);

  test('the wba signature alone: tag, 64-byte nonce, thumbprint keyid, expires', async () => {
    // As a site receives it: the AgentMesh signatures too (am, X-Agent-*); web-bot-auth verifies
    // one signature per request, so it is handed the wba member, as a site's edge would pick it.
    const sent = signHttpRequest(id, { target: agent.agentId, method: 'POST', url, body: BODY, webBotAuthDirectory: directory });
    assert.match(sent['signature-input']!, /^am=\(.*", wba=\(/);
    const wbaOnly = signHttpRequest(id, { target: agent.agentId, method: 'POST', url, body: BODY, webBotAuthDirectory: directory, forms: 'x-agent' });
    assert.match(wbaOnly['signature-input']!, /^wba=\("@method" "@authority" "@path" "@query" "content-digest" "signature-agent";key="wba"\);created=\d+;keyid="[\w-]{43}";alg="ed25519";expires=\d+;nonce="[\w+/]{86}==";tag="web-bot-auth"$/);
    assert.ok(wbaOnly['signature-input']!.includes(`keyid="${jwkThumbprint(id.publicKey)}"`));
    const request = (signatureAgent: string): Request =>
      new Request(url, {
        method: 'POST',
        headers: {
          'signature-input': wbaOnly['signature-input']!,
          signature: wbaOnly.signature!,
          'signature-agent': signatureAgent,
          'content-digest': wbaOnly['content-digest']!,
        },
        body: BODY,
      });
    // web-bot-auth 0.1.3 (on http-message-sig 0.2.0) does not implement RFC 9421 §2.1.2's `key`
    // parameter: it signs the whole Signature-Agent field, not its `wba` member. So it refuses the
    // draft's dictionary form as sent …
    await assert.rejects(wbaVerify(request(wbaOnly['signature-agent']!), await verifierFromJWK(publicJwk)), /invalid signature/);
    // … and verifies it when given the component value §2.1.2 defines (the member, serialized):
    // the base, the Ed25519 signature and every parameter check of the package hold.
    const member = wbaOnly['signature-agent']!.replace(/^wba=/, '');
    await wbaVerify(request(member), await verifierFromJWK(publicJwk));
    // A changed body (through Content-Digest) or another key is refused.
    const other = keyPair();
    await assert.rejects(wbaVerify(request(member), await verifierFromJWK(other.publicJwk)), /invalid signature/);
    const tampered = new Request(url, {
      method: 'POST',
      headers: { ...headersOf(wbaOnly), 'signature-agent': member, 'content-digest': contentDigest('{}') },
      body: '{}',
    });
    await assert.rejects(wbaVerify(tampered, await verifierFromJWK(publicJwk)), /invalid signature/);
  });

  test('http-message-sig 0.3.0 verifies the wba signature as sent, key parameter included, beside am', async () => {
    const sent = headersOf(signHttpRequest(id, { target: agent.agentId, method: 'POST', url, body: BODY, webBotAuthDirectory: directory }));
    const request = new Request(url, { method: 'POST', headers: sent, body: BODY });
    const key = await crypto.subtle.importKey('jwk', publicJwk, { name: 'Ed25519' }, false, ['verify']);
    const verified = await hms03.verifySignature(request, {
      label: 'wba',
      policy: {
        algorithms: ['ed25519'],
        requiredComponents: [...AM_COMPONENTS, hms03.component('signature-agent', { key: 'wba' })],
        requiredParameters: ['created', 'expires', 'keyid', 'nonce', 'tag'],
        clockSkew: 60,
      },
      resolveVerifier: (candidate) => {
        assert.equal(candidate.parameters.keyid, jwkThumbprint(id.publicKey));
        assert.equal(candidate.parameters.tag, 'web-bot-auth');
        return hms03.webcrypto.verifier(key);
      },
    });
    assert.equal(verified.label, 'wba');
  });
});

describe('stock signers, this SDK’s verifier', () => {
  test('http-message-sig 0.2.0 signs with a did:key keyid and tag="agentmesh": accepted', async () => {
    const { id } = keyPair();
    const url = 'http://127.0.0.1:8080/forecast?days=2';
    const now = nowUnix();
    const message = { method: 'POST', url, headers: { 'content-digest': contentDigest(BODY) } };
    const signer = { keyid: id.agentId, alg: 'ed25519' as const, sign: (data: string) => id.sign(data) };
    const nonce = b64url(randomBytes(16));
    const opts = {
      signer,
      key: 'sig1',
      components: AM_COMPONENTS,
      created: new Date(now * 1000),
      expires: new Date((now + 60) * 1000),
      nonce,
      tag: 'agentmesh',
    };
    const fields = await hms02.signatureHeaders(message, opts);
    // The parameters come out in AgentMesh's order: the same bytes the SDK would sign.
    assert.match(fields['Signature-Input'], /^sig1=\("@method" "@authority" "@path" "@query" "content-digest"\);created=\d+;keyid="did:key:z6Mk\w+";alg="ed25519";expires=\d+;nonce="[\w-]+";tag="agentmesh"$/);
    const headers = { ...message.headers, 'signature-input': fields['Signature-Input'], signature: fields.Signature };
    const v = await sdkVerify('POST', url, headers);
    assert.deepEqual([v.caller, v.nonce, v.forms], [id.agentId, nonce, ['rfc9421']]);
    await assert.rejects(sdkVerify('POST', url, headers, '{"city":"Lyon"}'), { code: 'bad_signature' });
    // Its limit: with no query, 0.2.0 signs `"@query": ` (empty); RFC 9421 §2.2.7 says `?`, as
    // this SDK and the node read it. Such a request is refused.
    const bare = 'http://127.0.0.1:8080/forecast';
    const noQuery = await hms02.signatureHeaders({ ...message, url: bare }, opts);
    await assert.rejects(
      sdkVerify('POST', bare, { ...message.headers, 'signature-input': noQuery['Signature-Input'], signature: noQuery.Signature }),
      { code: 'bad_signature' },
    );
  });

  test('web-bot-auth 0.1.3’s signer, given a did:key keyid and AgentMesh’s components: accepted', async () => {
    // Its signer forces tag="web-bot-auth" and a 64-byte nonce; the keyid is the signer's, so an
    // Ed25519Signer built with a did:key keyid signs what this SDK accepts (the tag is not checked).
    const { id, privateJwk } = keyPair();
    const key = await crypto.subtle.importKey('jwk', privateJwk, { name: 'Ed25519' }, false, ['sign']);
    const signer = new Ed25519Signer(id.agentId, key);
    const url = 'https://agent.example/forecast?days=2';
    const now = nowUnix();
    const message = { method: 'POST', url, headers: { 'content-digest': contentDigest(BODY) } };
    const fields = await wbaSignatureHeaders(message, signer, {
      created: new Date(now * 1000),
      expires: new Date((now + 60) * 1000),
      components: AM_COMPONENTS,
    });
    assert.match(fields['Signature-Input'], /tag="web-bot-auth"/);
    const v = await sdkVerify('POST', url, { ...message.headers, 'signature-input': fields['Signature-Input'], signature: fields.Signature });
    assert.equal(v.caller, id.agentId);
    // Its default (Ed25519Signer.fromJWK): keyid = the JWK thumbprint, which is no did:key.
    const byThumbprint = await Ed25519Signer.fromJWK(privateJwk);
    assert.equal(byThumbprint.keyid, jwkThumbprint(id.publicKey));
  });

  test('http-message-sig 0.3.0 signs with a did:key keyid: accepted, under its own label', async () => {
    const { id, privateJwk } = keyPair();
    const key = await crypto.subtle.importKey('jwk', privateJwk, { name: 'Ed25519' }, false, ['sign']);
    const url = 'http://127.0.0.1:8080/forecast';
    const now = nowUnix();
    const request = new Request(url, { method: 'POST', headers: { 'content-digest': contentDigest(BODY) }, body: BODY });
    const fields = await hms03.createSignature(request, {
      label: 'sig1',
      components: AM_COMPONENTS,
      parameters: { created: now, keyid: id.agentId, alg: 'ed25519', expires: now + 60, nonce: b64url(randomBytes(16)), tag: 'agentmesh' },
      signer: hms03.webcrypto.signer(key),
    });
    const headers = hms03.appendSignature(new Headers({ 'content-digest': contentDigest(BODY) }), fields);
    const v = await sdkVerify('POST', url, headers);
    assert.deepEqual([v.caller, v.forms], [id.agentId, ['rfc9421']]);
  });
});

describe('a stock verifier (http-message-sig 0.3.0), this SDK’s signatures', () => {
  /** The README's recipe: verify an AgentMesh request's `am` signature with a stock library. */
  async function verifyAm(request: Request): Promise<{ caller: string; nonce: string }> {
    const verified = await hms03.verifySignature(request, {
      label: 'am',
      policy: {
        algorithms: ['ed25519'],
        requiredComponents: ['@method', '@authority', '@path', '@query', 'content-digest'],
        requiredParameters: ['created', 'expires', 'keyid', 'nonce'],
        clockSkew: 60,
      },
      resolveVerifier: async ({ parameters }) =>
        hms03.webcrypto.verifier(await crypto.subtle.importKey('raw', new Uint8Array(publicKeyFromDid(String(parameters.keyid))), 'Ed25519', false, ['verify'])),
    });
    // The signature covers Content-Digest; check it against the body (and remember the nonce).
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await request.arrayBuffer()));
    assert.equal(request.headers.get('content-digest'), `sha-256=:${btoa(String.fromCharCode(...digest))}:`);
    return { caller: String(verified.parameters.keyid), nonce: String(verified.parameters.nonce) };
  }

  test('a direct call: am over the agent’s own URL', async () => {
    const caller = Identity.generate();
    const url = 'http://127.0.0.1:8080/forecast?days=2';
    const sent = headersOf(signHttpRequest(caller, { target: agent.agentId, method: 'POST', url, body: BODY }));
    const got = await verifyAm(new Request(url, { method: 'POST', headers: sent, body: BODY }));
    assert.deepEqual(got, { caller: caller.agentId, nonce: sent['x-agent-nonce'] });
    await assert.rejects(verifyAm(new Request('http://127.0.0.1:8081/forecast?days=2', { method: 'POST', headers: sent, body: BODY })), /verification failed/i);
  });

  test('an answer: am over @status and content-digest, nonce = the request’s', async () => {
    const h = signResponseBoth(agent, { status: 200, requestNonce: 'bm9uY2Utbm9uY2Utbm9uY2U', body: '{"ok":true}' });
    const response = new Response('{"ok":true}', { status: 200, headers: h });
    const verified = await hms03.verifySignature(response, {
      label: 'am',
      policy: { algorithms: ['ed25519'], requiredComponents: ['@status', 'content-digest'], requiredParameters: ['keyid', 'nonce'], clockSkew: 60 },
      resolveVerifier: async ({ parameters }) =>
        hms03.webcrypto.verifier(await crypto.subtle.importKey('raw', new Uint8Array(publicKeyFromDid(String(parameters.keyid))), 'Ed25519', false, ['verify'])),
    });
    assert.equal(verified.parameters.nonce, 'bm9uY2Utbm9uY2Utbm9uY2U');
    assert.equal(verified.parameters.keyid, agent.agentId);
  });
});
