"""A complete AgentMesh agent: every caller verified, every answer signed, the card registered.
Run `AGENTMESH_KEYSTORE=file agentmesh keygen` once, then `python agent.py` (PORT=0: any port)."""

import os
import socket

import uvicorn
from fastapi import FastAPI, Request

from agentmesh import Identity, NodeClient
from agentmesh.asgi import AgentMeshMiddleware

me = Identity.load()  # the CLI's key `default` (AGENTMESH_HOME/keys/default.key)
app = FastAPI()
app.add_middleware(AgentMeshMiddleware, identity=me)


@app.post("/forecast")
async def forecast(request: Request) -> dict[str, str]:
    city = (await request.json())["city"]
    return {"city": city, "forecast": "sunny", "caller": request.state.agentmesh_caller}


if __name__ == "__main__":
    sock = socket.create_server(("127.0.0.1", int(os.environ.get("PORT", "8080"))))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with NodeClient(os.environ.get("AGENTMESH_NODE", "http://127.0.0.1:7070"), me) as node:
        node.register(
            name="weather",
            description="Forecasts weather for any city",
            endpoint=url,
            tags=["weather"],
            protocols=["http"],
            skills=["forecast"],
        )
    print(f"agent {me.agent_id} on {url}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
