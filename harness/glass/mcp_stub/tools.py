"""The stub's tools, shaped like a seed-style task server: optional ``user_id`` and
``access_token`` arguments, answers keyed by whoever the call says it is.

Every call is recorded with what it carried (headers, session, arguments, the credential's
fingerprint and claims) before it is answered, so a call the stub fails is recorded too.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR
from pydantic import Field

from .credentials import SeenCredential, bearer_token, fingerprint, inspect_token
from .markers import TOOL_TAG, find_marker, is_failing
from .records import TOKEN_ARGUMENTS, USER_ARGUMENTS, RecordedToolCall, mask_headers
from .state import McpStubState

SERVER_NAME = "chatkit-harness-tasks"
FAILURE_TEXT = "the task store is unavailable (a failure the harness asked for)"

UserId = Annotated[
    str | None, Field(description="The id of the user you act for, as your instructions give it.")
]
AccessToken = Annotated[
    str | None,
    Field(description="The user's access token, as your instructions give it."),
]


def build_server(state: McpStubState) -> MCPServer:
    """An MCP server whose tools record into ``state``."""
    server: MCPServer = MCPServer(
        SERVER_NAME,
        instructions="A task list per user. Each call acts for the user it identifies.",
    )

    @server.tool(name="list_tasks", description=f"List the user's tasks. {TOOL_TAG}")
    async def list_tasks(
        ctx: Context, user_id: UserId = None, access_token: AccessToken = None
    ) -> str:
        arguments = {"user_id": user_id, "access_token": access_token}
        call = _record(state, ctx, "list_tasks", arguments)
        tasks = state.tasks(call.identity)
        return _finish(state, call, f"Tasks of {_who(call)}: {_listing(tasks)}.")

    @server.tool(name="add_task", description=f"Add a task to the user's list. {TOOL_TAG}")
    async def add_task(
        title: Annotated[str, Field(description="What the task says.")],
        ctx: Context,
        user_id: UserId = None,
        access_token: AccessToken = None,
    ) -> str:
        arguments = {"title": title, "user_id": user_id, "access_token": access_token}
        call = _record(state, ctx, "add_task", arguments)
        if call.failed:
            # A JSON-RPC error, as a crashing tool server answers: unlike an isError result
            # (plain content for the model), clients raise it, so it tests the error path.
            _finish(state, call, f"JSON-RPC error {INTERNAL_ERROR}: {FAILURE_TEXT}")
            raise MCPError(INTERNAL_ERROR, f"add_task failed: {FAILURE_TEXT}")
        tasks = state.add_task(call.identity, title)
        return _finish(
            state, call, f"Added {title!r} to the tasks of {_who(call)}; now: {_listing(tasks)}."
        )

    return server


def _who(call: RecordedToolCall) -> str:
    return f"user {call.identity!r} (identified by the {call.identity_source})"


def _listing(tasks: list[str]) -> str:
    return ", ".join(repr(t) for t in tasks) if tasks else "none"


def _record(
    state: McpStubState, ctx: Context, tool: str, arguments: dict[str, Any]
) -> RecordedToolCall:
    request = ctx.request_context.request
    headers = dict(ctx.headers or {})
    path = str(getattr(getattr(request, "url", None), "path", ""))
    header_token = bearer_token(headers)
    header_cred = (
        inspect_token(header_token, "authorization header", state.key_sets)
        if header_token
        else None
    )
    arg_token = next((str(v) for k, v in arguments.items() if k in TOKEN_ARGUMENTS and v), None)
    arg_cred = (
        inspect_token(arg_token, "access_token argument", state.key_sets) if arg_token else None
    )
    user_arg = next((str(v) for k, v in arguments.items() if k in USER_ARGUMENTS and v), None)
    identity, source = _identity(header_cred, arg_cred, user_arg)
    shown = {
        k: (f"<token sha256:{fingerprint(str(v))}>" if k in TOKEN_ARGUMENTS else v)
        for k, v in arguments.items()
        if v is not None
    }
    marker = find_marker(str(arguments.get("title") or ""))
    call = RecordedToolCall(
        index=state.next_index(),
        tool=tool,
        arguments=shown,
        transport="sse" if "/messages" in path else "streamable-http",
        session_id=next((v for k, v in headers.items() if k.lower() == "mcp-session-id"), None)
        or _sse_session(request),
        headers=mask_headers(headers),
        header_credential=header_cred,
        argument_credential=arg_cred,
        user_id_argument=user_arg,
        identity=identity,
        identity_source=source,
        marker=marker,
        failed=is_failing(marker),
        received_at=time.monotonic(),
        received_wall=time.time(),
    )
    return call


def _sse_session(request: Any) -> str | None:
    params = getattr(request, "query_params", None)
    return params.get("session_id") if params is not None else None


def _identity(
    header: SeenCredential | None, argument: SeenCredential | None, user_id: str | None
) -> tuple[str, str]:
    """Who the call acts for, the way a tool server that trusts its callers would decide:
    the transport's credential first, then a token argument, then a bare user id."""
    for seen in (header, argument):
        if seen is not None:
            return seen.sub or f"token {seen.fingerprint}", seen.where
    if user_id:
        return user_id, "user_id argument"
    return "anonymous", "absence of any identity"


def _finish(state: McpStubState, call: RecordedToolCall, reply: str) -> str:
    call.reply = reply
    state.add(call)
    return reply
