// Find an agent by what it does, call it with a signed request, check its signed answer.
// Run: AGENTMESH_NODE=http://127.0.0.1:7070 node dist/examples/caller.js
import { Identity, NodeClient } from '@agentmesh/sdk';

const node = new NodeClient(process.env['AGENTMESH_NODE'] ?? 'http://127.0.0.1:7070', await Identity.loadOrCreate('caller'));
const [hit] = (await node.discover({ q: 'weather forecast for a city', limit: 1 })).results;
if (!hit) throw new Error('no weather agent on this node');
const res = await node.invoke(hit.agent_id, { path: '/forecast', json: { city: 'Paris' } });
console.log(res.status, res.verified ? 'verified' : 'NOT VERIFIED', res.json());
