"""The stub's HTTP surface: MCP over Streamable HTTP (``/mcp``) and SSE (``/sse``), the
protected-resource metadata (RFC 9728), and the ``/_stub`` controls."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .state import McpStubState
from .tools import build_server

MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
RESOURCE_METADATA = "/.well-known/oauth-protected-resource"


def create_app(state: McpStubState) -> Starlette:
    """Both transports on one app; the Streamable HTTP app's lifespan runs its sessions."""
    server = build_server(state)

    @server.custom_route("/_stub/calls", methods=["GET"])
    async def recorded_calls(request: Request) -> Response:
        since = request.query_params.get("since", "0")
        if not since.lstrip("-").isdigit():
            return JSONResponse({"error": "'since' must be an integer"}, status_code=400)
        calls = [c.to_json() for c in state.calls if c.index >= int(since)]
        return JSONResponse({"calls": calls})

    @server.custom_route("/_stub/clear", methods=["POST"])
    async def clear(request: Request) -> Response:
        state.clear()
        return JSONResponse({"cleared": True})

    async def resource_metadata(request: Request) -> Response:
        # RFC 9728: where a client finds the authorization server that issues tokens for this
        # resource. Only offered when the stub was told of one.
        if not state.authorization_server:
            return JSONResponse({"error": "no authorization server configured"}, status_code=404)
        return JSONResponse(
            {
                "resource": state.resource_url,
                "authorization_servers": [state.authorization_server],
                "bearer_methods_supported": ["header"],
            }
        )

    # Both the root form and the path-inserted form (RFC 9728 section 3.1) for /mcp.
    server.custom_route(RESOURCE_METADATA, methods=["GET"])(resource_metadata)
    server.custom_route(RESOURCE_METADATA + MCP_PATH, methods=["GET"])(resource_metadata)
    app = server.streamable_http_app(streamable_http_path=MCP_PATH)
    # The SSE transport shares the tools and recordings; its routes need no lifespan.
    sse = server.sse_app(sse_path=SSE_PATH, message_path=MESSAGES_PATH)
    app.router.routes.extend(r for r in sse.routes if getattr(r, "path", "") in _SSE_ROUTES)
    return app


_SSE_ROUTES = {SSE_PATH, MESSAGES_PATH.rstrip("/")}
