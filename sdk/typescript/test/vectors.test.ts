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
import { b64url, b64urlDecode, fromHex, hex } from '../src/encoding.js';
import {
  RequestTarget,
  agentmeshParams,
  contentDigest,
  directoryBody,
  forAgent,
  inputMember,
  jwkThumbprint,
  parseSignature,
  signComponents,
  signDirectory,
  signRequestTarget,
  signResponseTarget,
  signWebBotAuth,
  signatureMember,
} from '../src/httpsig.js';
import { signHttpRequest, signResponseRfc9421, verifySignedRequest } from '../src/handshake.js';
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
  rfc9421_request: 'checked (am, am-agent over http and relay://, the gateway\'s relabelling, verification at the agent)',
  rfc9421_response: 'checked',
  rfc9421_b26: 'checked (RFC 9421 Appendix B.2.6, byte for byte)',
  web_bot_auth: 'checked',
  rfc9421_directory: 'checked',
  dht: 'not SDK: node-to-node DHT keys and buckets (tests/it/vectors.rs)',
  offer_datagram: 'not SDK: node-to-node offer datagrams (tests/it/vectors.rs)',
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

    test('rfc9421_request: am, am-agent (http and relay://), the gateway hand-over, verification', async () => {
      use();
      const r = v['rfc9421_request'] as {
        signer: string;
        target: string;
        method: string;
        gateway_url: string;
        agent_url: string;
        created: number;
        expires: number;
        nonce: string;
        body: string;
        content_digest: string;
        signatures: Record<string, { label: string; url?: string; authority?: string; signature_base: string; signature_input: string; signature: string }>;
        headers_through_gateway: Record<string, string>;
        headers_at_agent: Record<string, string>;
      };
      const signer = key(r.signer);
      assert.equal(contentDigest(r.body), r.content_digest);
      const params = agentmeshParams(signer, r.created, r.nonce);
      assert.equal(params.expires, r.expires);
      const targets: Record<string, RequestTarget | undefined> = {
        am: RequestTarget.ofUrl(r.method, r.gateway_url),
        am_agent_http: RequestTarget.ofUrl(r.method, r.agent_url),
        am_agent_relay: new RequestTarget(r.method, r.target, '/forecast?days=2'),
      };
      assert.deepEqual(Object.keys(r.signatures).sort(), Object.keys(targets).sort());
      for (const [name, want] of Object.entries(r.signatures)) {
        const signed = signRequestTarget(signer, want.label, targets[name]!, r.body, params);
        assert.equal(signed.base, want.signature_base, name);
        assert.equal(signed.input, want.signature_input, name);
        assert.equal(signed.signature, want.signature, name);
        if (want.authority !== undefined) assert.equal(targets[name]!.authority, want.authority);
      }
      // What a caller sends through the gateway: both forms, one nonce and time.
      const sent = signHttpRequest(signer, {
        target: r.target,
        method: r.method.toLowerCase(),
        url: r.gateway_url,
        pathAndQuery: '/forecast?days=2',
        body: r.body,
        agentEndpoint: 'http://127.0.0.1:8080',
        timestamp: r.created,
        nonce: r.nonce,
      });
      for (const [k, val] of Object.entries(r.headers_through_gateway)) assert.equal(sent[k as keyof typeof sent], val, k);
      const x = v['request'] as { signature: string; nonce: string; timestamp: number };
      assert.equal(sent['x-agent-signature'], x.signature, 'the X-Agent-* form is the §4 vector');
      assert.equal(sent['x-agent-nonce'], x.nonce);
      // The gateway verifies am (its own URL) …
      const verify = (headers: Record<string, string>, wire: { authority?: string; pathAndQuery?: string }, nonceCache = new NonceCache()) =>
        verifySignedRequest({ method: r.method, pathAndQuery: '/forecast?days=2', headers, body: r.body, me: r.target, nonceCache, now: r.created + 5, wire });
      const atGateway = await verify({ ...(sent as Record<string, string>) }, { authority: '127.0.0.1:7070', pathAndQuery: new URL(r.gateway_url).pathname + '?days=2' });
      assert.deepEqual(atGateway, { caller: did(r.signer), nonce: r.nonce, forms: ['x-agent', 'rfc9421'] });
      // … and hands the agent am-agent relabelled am.
      const through = r.headers_through_gateway;
      const handed = forAgent((n) => through[n]);
      assert.deepEqual(handed, [r.headers_at_agent['signature-input'], r.headers_at_agent['signature']]);
      // The agent (Host = its endpoint's authority) accepts it alone and with the §4 form.
      const atAgent = { ...r.headers_at_agent, host: '127.0.0.1:8080' };
      const xHeaders = Object.fromEntries(Object.entries(sent).filter(([k]) => k.startsWith('x-agent-')));
      assert.deepEqual((await verify(atAgent, {})).forms, ['rfc9421']);
      assert.deepEqual((await verify({ ...atAgent, ...xHeaders }, {})).forms, ['x-agent', 'rfc9421']);
      // Not at another authority, nor with another body.
      await assert.rejects(verify({ ...atAgent, host: '127.0.0.1:8081' }, {}), { code: 'bad_signature' });
      await assert.rejects(
        verifySignedRequest({ method: r.method, pathAndQuery: '/forecast?days=2', headers: atAgent, body: '{"city":"Lyon"}', me: r.target, nonceCache: new NonceCache(), now: r.created }),
        { code: 'bad_signature' },
      );
      // Through a relay: @authority is the agent's did:key, lowercased — accepted by default.
      const relayed = signRequestTarget(signer, 'am', targets['am_agent_relay']!, r.body, params);
      const relayHeaders = { 'content-digest': r.content_digest, 'signature-input': inputMember(relayed), signature: signatureMember(relayed), host: '127.0.0.1:9999' };
      assert.deepEqual((await verify(relayHeaders, {})).forms, ['rfc9421']);
      await assert.rejects(verify(relayHeaders, { authority: '127.0.0.1:9999' }), { code: 'bad_signature' }, 'a pinned authority is the only one');
    });

    test('rfc9421_response: base, Signature-Input, Signature; verification', async () => {
      use();
      const r = v['rfc9421_response'] as {
        signer: string;
        status: number;
        request_nonce: string;
        created: number;
        body: string;
        content_digest: string;
        signature_base: string;
        signature_input: string;
        signature: string;
      };
      const responder = key(r.signer);
      const signed = signResponseTarget(responder, r.status, r.request_nonce, r.body, r.created);
      assert.equal(contentDigest(r.body), r.content_digest);
      assert.equal(signed.base, r.signature_base);
      assert.equal(inputMember(signed), r.signature_input);
      assert.equal(signatureMember(signed), r.signature);
      const headers = signResponseRfc9421(responder, { status: r.status, requestNonce: r.request_nonce, body: r.body, timestamp: r.created });
      assert.deepEqual(headers, { 'content-digest': r.content_digest, 'signature-input': r.signature_input, signature: r.signature });
      const check = (over: Partial<Parameters<typeof verifyResponse>[0]>): Promise<void> =>
        verifyResponse({ agentId: did(r.signer), status: r.status, requestNonce: r.request_nonce, headers, body: r.body, ...over });
      await check({});
      await assert.rejects(check({ status: 201 }), { code: 'bad_signature' });
      await assert.rejects(check({ body: '{"forecast":"rain"}' }), { code: 'bad_signature' });
      await assert.rejects(check({ requestNonce: 'b3RoZXItbm9uY2Utb3RoZXI' }), { code: 'bad_signature' });
      await assert.rejects(check({ agentId: did('a') }), { code: 'wrong_target' });
      // Both forms on one answer: both must hold.
      const x = signResponse(responder, { status: r.status, requestNonce: r.request_nonce, body: r.body, timestamp: r.created });
      await check({ headers: { ...headers, ...x } });
      await assert.rejects(check({ headers: { ...headers, ...x, 'x-agent-signature': b64url(new Uint8Array(64)) } }), { code: 'bad_signature' });
      const otherSig = signResponseRfc9421(responder, { status: 500, requestNonce: r.request_nonce, body: r.body, timestamp: r.created });
      await assert.rejects(check({ headers: { ...headers, ...x, signature: otherSig.signature } }), { code: 'bad_signature' });
    });

    test('rfc9421_b26: RFC 9421 Appendix B.2.6, byte for byte, and the verifier rebuilds its base', () => {
      use();
      const r = v['rfc9421_b26'] as {
        secret_b64url: string;
        public_b64url: string;
        components: string[];
        values: string[];
        created: number;
        keyid: string;
        signature_base: string;
        signature_input: string;
        signature: string;
      };
      const k = Identity.fromSeed(b64urlDecode(r.secret_b64url)!);
      assert.equal(b64url(k.publicKey), r.public_b64url);
      const signed = signComponents(k, 'sig-b26', r.components, r.values, { created: r.created, keyid: r.keyid, alg: false });
      assert.equal(signed.base, r.signature_base);
      assert.equal(inputMember(signed), r.signature_input);
      assert.equal(signatureMember(signed), r.signature);
      const fields: Record<string, string> = {
        'signature-input': r.signature_input,
        signature: r.signature,
        date: r.values[0]!,
        'content-type': r.values[4]!,
        'content-length': r.values[5]!,
      };
      const target = new RequestTarget('POST', 'example.com', '/foo?param=Value&Pet=dog');
      const parsed = parseSignature((n) => fields[n], (c) => target.value(c), { label: 'sig-b26' });
      assert.equal(parsed.base, r.signature_base);
      assert.equal(parsed.signature.length, 64);
    });

    test('web_bot_auth: thumbprint keyid, Signature-Agent, the wba signature', () => {
      use();
      const w = v['web_bot_auth'] as {
        signer: string;
        jwk_thumbprint: string;
        url: string;
        method: string;
        body: string;
        directory: string;
        created: number;
        nonce_bytes_hex: string;
        'signature-agent': string;
        signature_base: string;
        signature_input: string;
        signature: string;
      };
      const signer = key(w.signer);
      assert.equal(jwkThumbprint(signer.publicKey), w.jwk_thumbprint);
      const { signatureAgent, signed } = signWebBotAuth(signer, RequestTarget.ofUrl(w.method, w.url)!, w.body, w.directory, w.created, fromHex(w.nonce_bytes_hex));
      assert.equal(signatureAgent, w['signature-agent']);
      assert.equal(signed.base, w.signature_base);
      assert.equal(inputMember(signed), w.signature_input);
      assert.equal(signatureMember(signed), w.signature);
      // The same through signHttpRequest (direct call with the webBotAuth option): am + wba.
      const sent = signHttpRequest(signer, {
        target: did('b'),
        method: w.method,
        url: w.url,
        body: w.body,
        timestamp: w.created,
        nonce: 'bm9uY2Utbm9uY2Utbm9uY2U',
        webBotAuthDirectory: w.directory,
        webBotAuthNonce: fromHex(w.nonce_bytes_hex),
      });
      assert.equal(sent['signature-agent'], w['signature-agent']);
      assert.ok(sent['signature-input']!.startsWith('am=('));
      assert.ok(sent['signature-input']!.endsWith(', ' + w.signature_input));
      assert.ok(sent.signature!.endsWith(', ' + w.signature));
    });

    test('rfc9421_directory: the directory draft example, byte for byte', () => {
      use();
      const d = v['rfc9421_directory'] as {
        authority: string;
        created: number;
        expires: number;
        jwk_thumbprint: string;
        body: string;
        content_digest: string;
        signature_base: string;
        signature_input: string;
        signature: string;
      };
      const k = Identity.fromSeed(b64urlDecode((v['rfc9421_b26'] as { secret_b64url: string }).secret_b64url)!);
      assert.equal(jwkThumbprint(k.publicKey), d.jwk_thumbprint);
      assert.equal(directoryBody(k.publicKey), d.body);
      assert.equal(contentDigest(d.body), d.content_digest);
      const signed = signDirectory(k, d.authority, d.created, d.expires);
      assert.equal(signed.base, d.signature_base);
      assert.equal(inputMember(signed), d.signature_input);
      assert.equal(signatureMember(signed), d.signature);
    });
  });
}
