"""MCP tools for the agent, acting for the user of each request (``--mcp-url``).

The correct wiring: one MCP connection per turn, opened with the user's credential in its
``Authorization`` header (a token exchanged for the MCP server's audience, see
token_exchange.py). The model never sees the credential and cannot choose whom a tool acts
for. MCP's Streamable HTTP transport carries the header on every request, and the Agents
SDK's ``MCPServerStreamableHttp`` takes it in ``params['headers']``.

The MCP faults each break that at one spot: the seed's credentials in the prompt, no identity,
one connection made with the first user's headers and shared by everyone, the user's session
token passed through unchanged, and tool errors that crash the turn.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from agents.mcp import MCPServer, MCPServerStreamableHttp

from .config import ServerConfig
from .context import RequestContext
from .faults import Fault
from .token_exchange import TokenExchanger

log = logging.getLogger("reference_server")

# The seed's "MCP Tool Authentication" block, as deployments built from it carry it.
SEED_AUTH_BLOCK = """Authentication Context
  • User ID: {user_id}
  • Access Token: {access_token}
CRITICAL: When calling ANY MCP tool, include:
  • user_id: "{user_id}"
  • access_token: "{access_token}\""""
MCP_TIMEOUT_SECONDS = 10.0


class UnhandledToolError(BaseException):
    """mcp-error-500: a tool failure that escapes every ``except Exception`` on its way out.

    ChatKitServer turns any Exception raised in respond() into an ``error`` event, so a
    deployment built on it only crashes a turn through what that misses: a cancelled task
    group (anyio cancels the whole turn when an MCP client's background task fails), a
    hand-rolled stream outside the SDK, a re-raise as a BaseException. This stands for all
    of them; uvicorn then answers a bare 500, or cuts the connection once streaming started.
    """


def is_tool_failure(exc: BaseException) -> bool:
    """A failure the Agents SDK raised out of an MCP tool call."""
    from agents.exceptions import AgentsException

    return isinstance(exc, AgentsException) and "tool" in str(exc).lower()


class McpTools:
    """The MCP servers each turn's agent gets, for the user of that turn."""

    def __init__(self, cfg: ServerConfig) -> None:
        assert cfg.mcp_url is not None
        self.cfg = cfg
        self.url = cfg.mcp_url
        self.exchanger = TokenExchanger(cfg.mcp_url)
        self._shared: MCPServerStreamableHttp | None = None
        self._shared_lock = asyncio.Lock()
        self._keeper: asyncio.Task[None] | None = None
        self._tls: ssl.SSLContext | None = None

    async def warm(self) -> None:
        """Start-up work the first turn would otherwise wait for (see latency.cold-start).

        A turn's connection acts for the turn's user, so it cannot be opened before the user
        asks; what can be done once is done here: find the token endpoint, and load the CA
        bundle every connection's TLS set-up would otherwise load again.
        """
        self._tls_context()
        await self.exchanger.warm()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx2.create_ssl_context()
        return self._tls

    def _http_client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        """The HTTP client of one turn's MCP connection, on the shared TLS context: without
        it each client loads the CA bundle again (tens of milliseconds a turn)."""
        return httpx2.AsyncClient(
            headers=headers,
            timeout=timeout if timeout is not None else MCP_TIMEOUT_SECONDS,
            auth=auth,
            verify=self._tls_context(),
            follow_redirects=False,  # the MCP transport follows same-origin redirects itself
        )

    def instruction_lines(self, context: RequestContext) -> list[str]:
        """Extra instruction lines: only the seed's fault writes credentials there."""
        if not self.cfg.has(Fault.MCP_TOKEN_IN_PROMPT):
            return []
        block = SEED_AUTH_BLOCK.format(
            user_id=context.user_id, access_token=context.access_token or ""
        )
        return block.splitlines()

    async def _headers(self, context: RequestContext) -> dict[str, str]:
        cfg = self.cfg
        if cfg.has(Fault.MCP_NO_IDENTITY) or cfg.has(Fault.MCP_TOKEN_IN_PROMPT):
            return {}  # the tool server hears from nobody (or only from the model)
        token = context.access_token
        if not token:
            return {}
        if not cfg.has(Fault.MCP_TOKEN_PASSTHROUGH):
            token = await self.exchanger.token_for(token)
        return {"Authorization": f"Bearer {token}"}

    def _server(self, headers: dict[str, str]) -> MCPServerStreamableHttp:
        failure: dict[str, object] = {}
        if self.cfg.has(Fault.MCP_ERROR_500):
            failure["failure_error_function"] = None  # tool errors raise instead of answering
        return MCPServerStreamableHttp(
            params={
                "url": self.url,
                "headers": headers,
                "timeout": MCP_TIMEOUT_SECONDS,
                "httpx_client_factory": self._http_client,
            },
            name="tasks",
            client_session_timeout_seconds=MCP_TIMEOUT_SECONDS,
            **failure,  # type: ignore[arg-type]
        )

    @asynccontextmanager
    async def servers_for(self, context: RequestContext) -> AsyncIterator[list[MCPServer]]:
        """The MCP servers of one turn, connected for the turn's user and closed after it."""
        if self.cfg.has(Fault.MCP_SHARED_CLIENT):
            yield [await self._shared_server(context)]
            return
        server = self._server(await self._headers(context))
        async with server:
            yield [server]

    async def _shared_server(self, context: RequestContext) -> MCPServer:
        """mcp-shared-client: one connection, made with the first caller's headers, for all."""
        async with self._shared_lock:
            if self._shared is None:
                server = self._server(await self._headers(context))
                ready = asyncio.Event()
                # A module-level client, connected once: it lives in its own task so that
                # requests ending do not close it.
                keeper = asyncio.create_task(self._keep(server, ready))
                await ready.wait()
                if keeper.done():  # it could not connect: let the next request try again
                    keeper.result()
                    raise RuntimeError("the shared MCP connection closed")
                self._keeper, self._shared = keeper, server
            return self._shared

    @staticmethod
    async def _keep(server: MCPServerStreamableHttp, ready: asyncio.Event) -> None:
        try:
            async with server:
                ready.set()
                await asyncio.Event().wait()
        finally:
            ready.set()
