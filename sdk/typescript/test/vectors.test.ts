/**
 * docs/test-vectors.json, the one file of vectors every implementation reads: each vector that
 * concerns the SDK is reproduced here, with both verification paths (WebCrypto and pure JS).
 */

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  CARD_SIGNING_PREFIX,
  HandshakeError,
  Identity,
  InvalidIdError,
  NonceCache,
  cardSigningBytes,
  didFromPublicKey,
  jcs,
  publicKeyFromDid,
  requestSigningString,
  responseSigningString,
  sha256Hex,
  signCard,
  signRequest,
  signResponse,
  verifyCard,
  verifyRequest,
  verifyResponse,
  type Manifest,
} from '../src/index.js';
import { setWebCryptoVerify } from '../src/ed25519.js';
import { fromHex, hex } from '../src/encoding.js';
import { loadVectors } from './helpers.js';

interface Key {
  name: string;
  secret_hex: string;
  public_hex: string;
  did: string;
}

const v = loadVectors();
const keys = v['keys'] as Key[];
const key = (name: string): Identity => Identity.fromSeed(fromHex(keys.find((k) => k.name === name)!.secret_hex));
const did = (name: string): string => keys.find((k) => k.name === name)!.did;

/** Every top-level entry of the file, and whether this SDK implements what it covers. */
const KNOWN: Record<string, string> = {
  about: 'text',
  keys: 'checked',
  card: 'checked',
  request: 'checked',
  response: 'checked',
  relay_auth: 'checked (signature over the auth string; the SDK does not speak the tunnel)',
  relay_frame: 'not SDK: tunnel framing is agentmesh connect\'s',
  peer_announcement: 'checked (signature; the SDK does not announce peers)',
  node_challenge: 'checked (signature)',
  invalid_ids: 'checked',
};

test('the vectors file holds no entry this suite does not know', () => {
  for (const k of Object.keys(v)) assert.ok(k in KNOWN, `new vector \`${k}\`: check it here`);
});

for (const path of ['webcrypto', 'pure-js'] as const) {
  describe(`vectors (${path} verification)`, () => {
    after(() => setWebCryptoVerify(true));
    const use = (): void => setWebCryptoVerify(path === 'webcrypto');

    test('keys: secret → public key → did:key, and back', () => {
      use();
      for (const k of keys) {
        const id = Identity.fromSeed(fromHex(k.secret_hex));
        assert.equal(hex(id.publicKey), k.public_hex);
        assert.equal(id.agentId, k.did);
        assert.equal(didFromPublicKey(fromHex(k.public_hex)), k.did);
        assert.equal(hex(publicKeyFromDid(k.did)), k.public_hex);
        assert.ok(k.did.startsWith('did:key:z6Mk'));
      }
    });

    test('card: JCS form, signature, verification as received', async () => {
      use();
      const c = v['card'] as { signer: string; manifest: Manifest; jcs: string; signing_prefix: string; manifest_signature: string };
      assert.equal(c.signing_prefix, CARD_SIGNING_PREFIX);
      assert.equal(jcs(c.manifest), c.jcs);
      assert.equal(new TextDecoder().decode(cardSigningBytes(c.manifest)), c.signing_prefix + c.jcs);
      const env = signCard(c.manifest, key(c.signer));
      assert.equal(env.manifest_signature, c.manifest_signature);
      await verifyCard({ manifest: c.manifest, manifest_signature: c.manifest_signature });
      // Field order does not matter (JCS), a changed field does.
      const reordered = Object.fromEntries(Object.entries(c.manifest).reverse());
      await verifyCard({ manifest: reordered, manifest_signature: c.manifest_signature });
      await assert.rejects(verifyCard({ manifest: { ...c.manifest, name: 'weathr' }, manifest_signature: c.manifest_signature }), {
        code: 'bad_signature',
      });
      // An unknown field is signed too: adding one breaks the signature.
      await assert.rejects(verifyCard({ manifest: { ...c.manifest, x: 1 }, manifest_signature: c.manifest_signature }), {
        code: 'bad_signature',
      });
    });

    test('request: body digest, signing string, signature; verifies at the callee', async () => {
      use();
      const r = v['request'] as {
        signer: string;
        method: string;
        path_and_query: string;
        target: string;
        timestamp: number;
        nonce: string;
        body: string;
        body_sha256_hex: string;
        signing_string: string;
        signature: string;
      };
      assert.equal(sha256Hex(r.body), r.body_sha256_hex);
      const caller = key(r.signer);
      assert.equal(
        requestSigningString({
          method: r.method.toLowerCase(),
          pathAndQuery: r.path_and_query,
          target: r.target,
          caller: caller.agentId,
          timestamp: r.timestamp,
          nonce: r.nonce,
          bodySha256Hex: r.body_sha256_hex,
        }),
        r.signing_string,
      );
      const headers = signRequest(caller, {
        target: r.target,
        method: 'post',
        pathAndQuery: r.path_and_query,
        body: r.body,
        timestamp: r.timestamp,
        nonce: r.nonce,
      });
      assert.equal(headers['x-agent-signature'], r.signature);
      assert.equal(caller.signB64(r.signing_string), r.signature);
      // The vector's nonce is 17 bytes: valid. It verifies at the target, 30 s later.
      const got = await verifyRequest({
        method: r.method,
        pathAndQuery: r.path_and_query,
        headers,
        body: r.body,
        me: r.target,
        nonceCache: new NonceCache(),
        now: r.timestamp + 30,
      });
      assert.equal(got, did(r.signer));
      // …and nowhere else, nor with another body, path or method.
      const again = async (over: Partial<Parameters<typeof verifyRequest>[0]>): Promise<string> =>
        verifyRequest({
          method: r.method,
          pathAndQuery: r.path_and_query,
          headers,
          body: r.body,
          me: r.target,
          nonceCache: new NonceCache(),
          now: r.timestamp,
          ...over,
        });
      await assert.rejects(again({ body: '{"city":"Lyon"}' }), { code: 'bad_signature' });
      await assert.rejects(again({ pathAndQuery: '/forecast?days=3' }), { code: 'bad_signature' });
      await assert.rejects(again({ method: 'PUT' }), { code: 'bad_signature' });
      await assert.rejects(again({ me: did(r.signer) }), { code: 'wrong_target' });
      await assert.rejects(again({ now: r.timestamp + 61 }), { code: 'stale_timestamp' });
      await assert.rejects(again({ now: r.timestamp - 61 }), (e: unknown) => e instanceof HandshakeError && e.code === 'stale_timestamp');
      assert.equal(await again({ now: r.timestamp + 60 }), did(r.signer));
    });

    test('response: signing string, signature, verification', async () => {
      use();
      const r = v['response'] as {
        signer: string;
        status: number;
        request_nonce: string;
        timestamp: number;
        body: string;
        body_sha256_hex: string;
        signing_string: string;
        signature: string;
      };
      assert.equal(sha256Hex(r.body), r.body_sha256_hex);
      const responder = key(r.signer);
      assert.equal(
        responseSigningString({
          status: r.status,
          requestNonce: r.request_nonce,
          responder: responder.agentId,
          timestamp: r.timestamp,
          bodySha256Hex: r.body_sha256_hex,
        }),
        r.signing_string,
      );
      const headers = signResponse(responder, { status: r.status, requestNonce: r.request_nonce, body: r.body, timestamp: r.timestamp });
      assert.equal(headers['x-agent-signature'], r.signature);
      const check = (over: Partial<Parameters<typeof verifyResponse>[0]>): Promise<void> =>
        verifyResponse({ agentId: did(r.signer), status: r.status, requestNonce: r.request_nonce, headers, body: r.body, ...over });
      await check({});
      await assert.rejects(check({ body: '{"forecast":"rain"}' }), { code: 'bad_signature' });
      await assert.rejects(check({ status: 500 }), { code: 'bad_signature' });
      await assert.rejects(check({ requestNonce: 'b3RoZXItbm9uY2Utb3RoZXI' }), { code: 'bad_signature' });
      await assert.rejects(check({ agentId: did('a') }), { code: 'wrong_target' });
    });

    test('relay auth, peer announcement, node challenge: signatures over their strings', () => {
      use();
      const ra = v['relay_auth'] as { signer: string; relay_id: string; agent_id: string; nonce: string; signing_string: string; signature: string };
      assert.equal(`AGENTMESH-RELAY-V1\n${ra.relay_id}\n${ra.agent_id}\n${ra.nonce}`, ra.signing_string);
      assert.equal(key(ra.signer).signB64(ra.signing_string), ra.signature);
      const pa = v['peer_announcement'] as { signer: string; node_id: string; url: string; issued_at: string; signing_string: string; signature: string };
      assert.equal(`AGENTMESH-PEER-V1\n${pa.node_id}\n${pa.url}\n${pa.issued_at}`, pa.signing_string);
      assert.equal(key(pa.signer).signB64(pa.signing_string), pa.signature);
      const nc = v['node_challenge'] as { signer: string; node_id: string; challenge: string; signing_string: string; signature: string };
      assert.equal(`AGENTMESH-NODE-V1\n${nc.node_id}\n${nc.challenge}`, nc.signing_string);
      assert.equal(key(nc.signer).signB64(nc.signing_string), nc.signature);
    });

    test('invalid IDs are refused', async () => {
      use();
      const invalid = v['invalid_ids'] as { id?: string; id_of_key_hex?: string; why: string }[];
      assert.ok(invalid.length >= 5);
      for (const entry of invalid) {
        const id = entry.id ?? didFromPublicKey(fromHex(entry.id_of_key_hex!));
        assert.throws(() => publicKeyFromDid(id), InvalidIdError, entry.why);
        // A request claiming that ID is refused as the node refuses it.
        const me = key('b');
        const headers = { ...signRequest(key('a'), { target: me.agentId, method: 'GET', pathAndQuery: '/' }), 'x-agent-id': id };
        await assert.rejects(verifyRequest({ method: 'GET', pathAndQuery: '/', headers, me, nonceCache: new NonceCache() }), {
          code: 'bad_signature',
        });
      }
    });
  });
}
