"""Serving a reference server on 127.0.0.1 port 0 for the Rust tests: bind, print one JSON
line with where it listens (the tests read it), serve until killed."""

import asyncio
import json
import socket
import sys

import uvicorn


def run(build) -> None:
    """`build(port)` returns the ASGI app and the dict to print."""

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        app, info = build(sock.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        print(json.dumps(info), flush=True)
        await server.serve(sockets=[sock])

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
