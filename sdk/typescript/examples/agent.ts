// An AgentMesh agent on Express: every caller is verified, every answer signed.
// Run: AGENTMESH_NODE=http://127.0.0.1:7070 PORT=8080 node dist/examples/agent.js
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Identity, NodeClient, expressMiddleware } from '@agentmesh/sdk';

const me = await Identity.loadOrCreate(process.env['AGENTMESH_KEY'] ?? 'weather'); // <home>/keys/weather.key
const app = express();
app.use(expressMiddleware(me)); // 401/413 in the node's error shape for bad calls; signs all answers
app.post('/forecast', (req, res) => {
  const { city } = req.body as { city?: string };
  res.json({ city, forecast: 'sunny', caller: req.agentmesh!.caller });
});
const server = app.listen(Number(process.env['PORT'] ?? 8080), '127.0.0.1', async () => {
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const node = new NodeClient(process.env['AGENTMESH_NODE'] ?? 'http://127.0.0.1:7070', me);
  await node.register({ name: 'weather', description: 'Forecasts weather for any city', tags: ['weather'], protocols: ['http'], endpoint });
  console.log(`agent ${me.agentId} listening on ${endpoint}`);
});
