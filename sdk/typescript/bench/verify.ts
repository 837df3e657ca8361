// How long verifyRequest takes per call (µs): the middleware's cost per request, minus I/O.
// Run: npm run bench   (or: node dist/bench/verify.js [calls])
import { Identity, NonceCache, signHttpRequest, signRequest, signResponse, verifyRequest, verifyResponse, type SignForms } from '../src/index.js';
import { setWebCryptoVerify } from '../src/ed25519.js';

const calls = Number(process.argv[2] ?? 3000);
const caller = Identity.generate();
const me = Identity.generate();
const body = JSON.stringify({ city: 'Paris', days: 2, pad: 'x'.repeat(150) });
const now = Math.floor(Date.now() / 1000);

const URL_ = 'http://127.0.0.1:8080/forecast?days=2';

function requests(n: number, forms: SignForms) {
  return Array.from({ length: n }, () => ({
    ...(signHttpRequest(caller, { target: me.agentId, method: 'POST', url: URL_, body, timestamp: now, forms }) as Record<string, string>),
    host: '127.0.0.1:8080',
  }));
}

async function measure(label: string, webcrypto: boolean, forms: SignForms = 'x-agent'): Promise<number> {
  setWebCryptoVerify(webcrypto);
  const cache = new NonceCache({ capacity: 10 * calls });
  const run = async (reqs: ReturnType<typeof requests>) => {
    for (const headers of reqs) {
      await verifyRequest({ method: 'POST', pathAndQuery: '/forecast?days=2', headers, body, me, nonceCache: cache, now });
    }
  };
  await run(requests(Math.min(300, calls), forms)); // warm-up (JIT, key caches)
  const reqs = requests(calls, forms);
  const t0 = performance.now();
  await run(reqs);
  const us = ((performance.now() - t0) * 1000) / calls;
  console.log(`verifyRequest (${label}, ${forms}): ${us.toFixed(1)} µs per call (${calls} calls)`);
  return us;
}

function time(label: string, n: number, f: () => void): void {
  for (let i = 0; i < Math.min(200, n); i++) f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  console.log(`${label}: ${(((performance.now() - t0) * 1000) / n).toFixed(1)} µs per call`);
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}, body ${body.length} bytes`);
await measure('WebCrypto fast path, the default on Node', true);
await measure('pure JavaScript, @noble/ed25519', false);
await measure('WebCrypto fast path', true, 'rfc9421');
await measure('WebCrypto fast path', true, 'both');
setWebCryptoVerify(true);
time('signRequest', Math.max(200, calls / 3), () => {
  signRequest(caller, { target: me.agentId, method: 'POST', pathAndQuery: '/forecast?days=2', body });
});
time('signHttpRequest (both forms)', Math.max(200, calls / 3), () => {
  signHttpRequest(caller, { target: me.agentId, method: 'POST', url: URL_, body });
});
const res = signResponse(me, { status: 200, requestNonce: 'bm9uY2Utbm9uY2Utbm9uY2U', body });
const t0 = performance.now();
const n = Math.max(200, calls / 3);
for (let i = 0; i < n; i++) {
  await verifyResponse({ agentId: me.agentId, status: 200, requestNonce: 'bm9uY2Utbm9uY2Utbm9uY2U', headers: res, body });
}
console.log(`verifyResponse: ${(((performance.now() - t0) * 1000) / n).toFixed(1)} µs per call`);
