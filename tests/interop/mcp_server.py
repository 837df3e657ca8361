#!/usr/bin/env python
"""Minimal MCP server (mcp 2.3 Python SDK) over Streamable HTTP.

In mcp 2.x `FastMCP` was renamed: `from mcp.server.mcpserver import MCPServer`
(`mcp.server.fastmcp` still exists but only raises ModuleNotFoundError).

Binds 127.0.0.1 on an ephemeral port, prints one JSON line
    {"url": "http://127.0.0.1:PORT/mcp"}
to stdout, then serves until killed.

SDK defaults are kept (stateful sessions with Mcp-Session-Id, SSE responses).
Optional env knobs, for experiments only:
    MCP_JSON_RESPONSE=1   -> json_response=True   (application/json replies)
    MCP_STATELESS=1       -> stateless_http=True  (no Mcp-Session-Id)
    MCP_NO_HOST_CHECK=1   -> disable DNS-rebinding Host/Origin allow-list
"""

import logging
import os

import port0

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

# The SDK logs every session at INFO on stderr: quiet for the test output.
logging.getLogger("mcp").setLevel(logging.WARNING)

mcp = MCPServer("weather-demo")


@mcp.tool()
def get_forecast(city: str) -> str:
    """Get the weather forecast for a city."""
    return f"Sunny in {city}"


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def build(port: int):
    kwargs = {}
    if _flag("MCP_JSON_RESPONSE"):
        kwargs["json_response"] = True
    if _flag("MCP_STATELESS"):
        kwargs["stateless_http"] = True
    if _flag("MCP_NO_HOST_CHECK"):
        kwargs["transport_security"] = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # host="127.0.0.1" (the default) auto-enables DNS-rebinding protection:
    # Host must be 127.0.0.1:<port>/localhost:<port>/[::1]:<port>.
    app = mcp.streamable_http_app(streamable_http_path="/mcp", host="127.0.0.1", **kwargs)
    return app, {"url": f"http://127.0.0.1:{port}/mcp"}


if __name__ == "__main__":
    port0.run(build)
