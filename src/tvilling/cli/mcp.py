"""``tvilling mcp``: the MCP server over stdio, for an AI assistant (see docs/mcp.md)."""

from __future__ import annotations

from tvilling.cli.remote import Token, Url


def mcp(url: Url = None, token: Token = None) -> None:
    """Serve the Model Context Protocol over stdio: twins, queries, alarms and work orders as tools, through a
    running server. The token's role decides what the assistant may do."""
    from tvilling.mcp.server import serve_stdio  # the MCP SDK is loaded only for this command

    serve_stdio(url, token)
