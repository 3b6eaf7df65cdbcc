"""Smoke tests of the MCP faults: each breaks the per-user MCP wiring at its one spot.

The reference server's McpTools against a real MCP stub and test issuer on 127.0.0.1; what the
mcp.* checks make of each fault is pinned by tests/test_fault_matrix.py -k mcp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import jwt
import pytest

from harness.auth.issuer import TestIssuer
from harness.glass.mcp_box import McpBox
from reference_server.config import ServerConfig
from reference_server.context import RequestContext
from reference_server.faults import Fault
from reference_server.mcp_tools import McpTools, UnhandledToolError, is_tool_failure


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[TestIssuer, McpBox]]:
    issuer = TestIssuer()
    issuer.start()
    box = McpBox.start(key_sets=[issuer.jwks()], authorization_server=issuer.base_url)
    yield issuer, box
    box.stop()
    issuer.stop()


def _tools(box: McpBox, *faults: Fault) -> McpTools:
    return McpTools(replace(ServerConfig(), mcp_url=box.url, faults=frozenset(faults)))


def _context(issuer: TestIssuer, sub: str) -> RequestContext:
    return RequestContext(user_id=sub, access_token=issuer.mint(sub))


def _aud(headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    return str(jwt.decode(token, options={"verify_signature": False})["aud"])


def test_correct_wiring_sends_an_exchanged_token(setup: tuple[TestIssuer, McpBox]) -> None:
    issuer, box = setup
    tools = _tools(box)
    headers = asyncio.run(tools._headers(_context(issuer, "alice")))
    assert _aud(headers) == box.url
    assert tools.instruction_lines(_context(issuer, "alice")) == []


def test_token_in_prompt(setup: tuple[TestIssuer, McpBox]) -> None:
    issuer, box = setup
    tools = _tools(box, Fault.MCP_TOKEN_IN_PROMPT)
    context = _context(issuer, "alice")
    assert asyncio.run(tools._headers(context)) == {}
    lines = "\n".join(tools.instruction_lines(context))
    assert 'user_id: "alice"' in lines and f'access_token: "{context.access_token}"' in lines


def test_no_identity(setup: tuple[TestIssuer, McpBox]) -> None:
    issuer, box = setup
    tools = _tools(box, Fault.MCP_NO_IDENTITY)
    assert asyncio.run(tools._headers(_context(issuer, "alice"))) == {}
    assert tools.instruction_lines(_context(issuer, "alice")) == []


def test_token_passthrough(setup: tuple[TestIssuer, McpBox]) -> None:
    issuer, box = setup
    context = _context(issuer, "alice")
    headers = asyncio.run(_tools(box, Fault.MCP_TOKEN_PASSTHROUGH)._headers(context))
    assert headers == {"Authorization": f"Bearer {context.access_token}"}


def test_shared_client_keeps_the_first_users_headers(setup: tuple[TestIssuer, McpBox]) -> None:
    issuer, box = setup
    tools = _tools(box, Fault.MCP_SHARED_CLIENT)

    async def two_users() -> tuple[object, object, dict[str, str]]:
        async with tools.servers_for(_context(issuer, "alice")) as first:
            pass
        async with tools.servers_for(_context(issuer, "bob")) as second:
            headers = dict(second[0].params["headers"])  # type: ignore[attr-defined]
        return first[0], second[0], headers

    first, second, headers = asyncio.run(two_users())
    assert first is second
    token = headers["Authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "alice"


def test_error_500_raises_tool_failures(setup: tuple[TestIssuer, McpBox]) -> None:
    _, box = setup
    # The SDK's own resolution: None raises tool errors, the default hands them to the model.
    default = object()
    faulty = _tools(box, Fault.MCP_ERROR_500)._server({})
    assert faulty._get_failure_error_function(default) is None  # type: ignore[arg-type]
    correct = _tools(box)._server({})
    assert correct._get_failure_error_function(default) is default  # type: ignore[arg-type]
    from agents.exceptions import UserError

    assert is_tool_failure(UserError("Error running tool add_task: boom"))
    assert not is_tool_failure(ValueError("tool"))
    assert not issubclass(UnhandledToolError, Exception)  # escapes ChatKitServer's handler
