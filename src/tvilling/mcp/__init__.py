"""The MCP front-end: `tvilling mcp` serves the Model Context Protocol over stdio through the SDK (docs/mcp.md)."""
