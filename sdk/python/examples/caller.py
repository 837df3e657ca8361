"""Find an agent by what it does and call it: the request is signed, the answer verified."""

import os

from agentmesh import Identity, NodeClient

with NodeClient(os.environ.get("AGENTMESH_NODE", "http://127.0.0.1:7070"), Identity.load()) as node:
    best = node.discover("will it rain in Paris tomorrow?", limit=1)[0]
    answer = node.invoke(best.agent_id, "/forecast", json={"city": "Paris"})
    print(answer.status, answer.json(), "verified" if answer.verified else "NOT VERIFIED")
