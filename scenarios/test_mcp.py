"""MCP tools act for the right user: judged from what each tool call carried at the MCP stub.

Run with --mcp-stub (the harness starts the target with MCP_SERVER_URL pointing at its MCP
stub) or --mcp-stub-url (a stub you run: chatkit-harness mcp-stub --port P), in glass-box mode
(--model-stub), where the model stub makes the tool call an obedient model would. The probe
(harness/probes/mcp.py) does all the talking; these functions only judge its evidence.
"""

from __future__ import annotations

from harness.engine.expect import evidence_of
from harness.engine.preconditions import CREATE, needs_stream
from harness.glass.mcp_stub import RecordedToolCall
from harness.probes.mcp import HEADER, McpEvidence, McpTurn
from harness.registry import MUST, SHOULD, check
from harness.report.results import blocked, fail, untestable

NEEDS_MCP_STUB = (
    "MCP checks need the MCP stub: pass --mcp-stub (the harness starts the target with "
    "MCP_SERVER_URL pointing at it; add --model-stub so the model stub makes the tool calls) "
    "or --mcp-stub-url (a stub you run: chatkit-harness mcp-stub --port P)"
)
REF_SEED = "seed: 'MCP Tool Authentication' (credentials in the system prompt)"
REF_SPEC = "MCP specification 2025-06-18, Authorization (Streamable HTTP carries Authorization)"
PER_REQUEST_FIX = (
    "Open the MCP connection per request with the user's credential in its headers, e.g. "
    "`async with MCPServerStreamableHttp(params={'url': MCP_URL, 'headers': {'Authorization': "
    "f'Bearer {token}'}}) as mcp: agent = Agent(..., mcp_servers=[mcp])` inside respond(), "
    "and drop user_id/access_token from the prompt and the tool arguments."
)


# -- shared preconditions ------------------------------------------------------------------


def _ready(ev: McpEvidence | None) -> McpEvidence:
    """The evidence, its turns streamed, and the target really calling the stub's tools."""
    if ev is None:
        untestable(NEEDS_MCP_STUB)
    for turn in ev.turns_of("alone", "together"):
        needs_stream(turn.rec, CREATE, turn.label)
    if not ev.calls:
        untestable(_no_calls(ev))
    return ev


def _no_calls(ev: McpEvidence) -> str:
    where = f"the MCP stub at {ev.mcp_url} received no tool call"
    if ev.model_calls is None:
        return (
            f"{where}: without the model stub (--model-stub) the target's own model decides "
            "whether to call add_task, and it did not"
        )
    offered = ev.offered_tools()
    if not offered or "add_task" not in " ".join(offered):
        return (
            f"{where}: the target offered its model no MCP tool (tools: "
            f"{', '.join(offered) or 'none'}); it does not take its MCP server URL from "
            "MCP_SERVER_URL, or was started before the stub"
        )
    return f"{where}, though the model was told to call add_task"


def _called(ev: McpEvidence, *phases: str) -> list[tuple[McpTurn, RecordedToolCall]]:
    return [(t, c) for t in ev.turns_of(*phases) for c in t.calls]  # type: ignore[arg-type]


def _call_evidence(ev: McpEvidence, turn: McpTurn, call: RecordedToolCall) -> str:
    lines = [
        f"{turn.label}: tool call #{call.index} {call.tool}({_args(call)}) over "
        f"{call.transport}, session {call.session_id or '(none)'}",
        "  authorization header: "
        + (call.header_credential.describe() if call.header_credential else "(none)"),
        f"  acts for: {ev.attribute(call).describe()}",
        f"  the stub answered: {call.reply[:200]}",
    ]
    return "\n".join(lines)


def _args(call: RecordedToolCall) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())


def _no_identity_at_all(ev: McpEvidence) -> bool:
    return all(ev.attribute(c).via is None for _, c in _called(ev, "alone", "together"))


# -- the checks ----------------------------------------------------------------------------


@check(
    id="mcp.identity-reaches-tools",
    title="Every tool call made for a user carries that user's identity",
    level=MUST,
    pitfall="The MCP tools get no identity at all, or a fixed one (an MCP client created once "
    "at start-up with the first user's headers, openai-agents-python #1969): tools act for "
    "nobody, or for the wrong user.",
    fix=PER_REQUEST_FIX,
    ref=f"{REF_SPEC}; openai/openai-agents-python#1969",
    probes=["mcp"],
)
def test_identity_reaches_tools(evidence) -> None:
    ev = _ready(evidence["mcp"])
    judged = _called(ev, "alone")
    if not judged:
        untestable("no tool call was made for the users' single turns")
    for turn, call in judged:
        who = ev.attribute(call)
        if who.user != turn.user.name:
            got = "no identity at all" if who.via is None else who.describe()
            fail(
                f"a tool call made for user {turn.user.name} acts for {got}",
                expected=f"user {turn.user.name}'s identity (sub {turn.user.sub!r}) in the "
                "MCP request's Authorization header, or at least in the tool arguments",
                actual=f"{turn.label}: {got}",
                evidence=_call_evidence(ev, turn, call),
            )


@check(
    id="mcp.identity-via-transport",
    title="The user's identity reaches tools in the MCP request headers, not through the model",
    level=SHOULD,
    pitfall="The seed's 'MCP Tool Authentication' pattern writes the user id and access token "
    "into the system prompt and tells the model to copy them into every tool call: the token "
    "goes to the model provider, and any text the model reads (a document, a tool result) can "
    "make it send another user's id.",
    fix="MCP's Streamable HTTP transport carries headers: " + PER_REQUEST_FIX,
    ref=f"{REF_SEED}; {REF_SPEC}",
    probes=["mcp"],
)
def test_identity_via_transport(evidence) -> None:
    ev = _ready(evidence["mcp"])
    judged = _called(ev, "alone", "together")
    if _no_identity_at_all(ev):
        blocked("mcp.identity-reaches-tools", "the tool calls carry no identity at all")
    for turn, call in judged:
        who = ev.attribute(call)
        if who.via is not None and who.via != HEADER:
            fail(
                f"user {turn.user.name}'s identity reached the tool only through the model "
                f"(the {who.via})",
                expected="the user's credential in the MCP request's Authorization header, "
                "set by the backend",
                actual=f"{turn.label}: {who.describe()}; authorization header: "
                + (call.header_credential.describe() if call.header_credential else "(none)")
                + ". This is the seed's 'MCP Tool Authentication' pattern: the model was told "
                "the credentials and copied them",
                evidence=_call_evidence(ev, turn, call),
            )


@check(
    id="mcp.no-cross-user",
    title="Concurrent users' tool calls never carry each other's identity or token",
    level=MUST,
    pitfall="One MCP connection (or a module-level current token) serves every request: made "
    "with the first user's headers, it hands that user's identity to everyone else's tool "
    "calls, and two streams at once swap credentials.",
    fix="Build the MCP server object inside the request, from that request's context, and "
    "close it when the turn ends; never keep a per-user credential in a module global. "
    + PER_REQUEST_FIX,
    ref="openai/openai-agents-python#1969 (per-run MCP headers for multi-tenant servers)",
    probes=["mcp"],
)
def test_no_cross_user(evidence) -> None:
    ev = _ready(evidence["mcp"])
    if "B" not in ev.users:
        untestable("needs a second user: pass --token-b (or --user-headers-b)")
    if _no_identity_at_all(ev):
        blocked("mcp.identity-reaches-tools", "the tool calls carry no identity to mix up")
    for turn, call in _called(ev, "alone", "together", "failing"):
        other = ({"A", "B"} - {turn.user.name}).pop()
        if other in ev.mentions(call):
            sessions = {c.session_id for c in ev.calls if c.session_id}
            shared = (
                f"; all {len(ev.calls)} calls came over one MCP session"
                if len(sessions) == 1 and len(ev.calls) > 1
                else ""
            )
            fail(
                f"a tool call made for user {turn.user.name} carries user {other}'s identity",
                expected=f"only user {turn.user.name}'s credential or id in the calls made "
                f"while serving user {turn.user.name}",
                actual=f"{turn.label}: {ev.attribute(call).describe()}{shared}",
                evidence=_call_evidence(ev, turn, call),
            )


@check(
    id="mcp.token-audience",
    title="Tools get a token issued for the tool server, not the user's session token re-sent",
    level=SHOULD,
    pitfall="The backend forwards the user's ChatKit session token to the MCP server as is "
    "(token passthrough): a token issued for the chat backend is now held by a third party, "
    "which can replay it against the chat backend and every other service that accepts it.",
    fix="Exchange the user's token for one whose audience is the MCP server (OAuth token "
    "exchange, RFC 8693, with resource=<MCP URL>, RFC 8707) at the authorization server the "
    "MCP server's protected-resource metadata names (RFC 9728), and send that one.",
    ref=f"{REF_SPEC}: token audience binding, 'token passthrough' is forbidden; RFC 8693",
    probes=["mcp"],
)
def test_token_audience(evidence) -> None:
    ev = _ready(evidence["mcp"])
    unknowable: list[str] = []
    judged = 0
    for turn, call in _called(ev, "alone", "together", "failing"):
        for seen in (call.header_credential, call.argument_credential):
            if seen is None:
                continue
            judged += 1
            owner = next(
                (u for u in ev.users.values() if u.token_fingerprint == seen.fingerprint), None
            )
            if owner is not None:
                if ev.mcp_url in owner.token_aud:
                    continue  # the session token is meant for this server too
                offered = (
                    " The MCP server's authorization server offers token exchange (RFC 8693)."
                    if ev.exchange_offered
                    else ""
                )
                fail(
                    f"user {owner.name}'s ChatKit session token was sent to the MCP server "
                    f"unchanged (in the {seen.where})",
                    expected=f"a token issued for {ev.mcp_url} (its aud), obtained by token "
                    "exchange",
                    actual=f"{turn.label}: the session token itself, issued for aud "
                    f"{', '.join(owner.token_aud) or '(none)'}.{offered}",
                    evidence=_call_evidence(ev, turn, call),
                )
            if seen.kind != "jwt":
                unknowable.append(f"{turn.label}: {seen.describe()} in the {seen.where}")
            elif ev.mcp_url not in seen.aud:
                fail(
                    f"the token in {turn.label}'s tool call is not issued for the MCP server",
                    expected=f"aud {ev.mcp_url}",
                    actual=f"{turn.label}: {seen.describe()} in the {seen.where}",
                    evidence=_call_evidence(ev, turn, call),
                )
    if judged == 0:
        if _no_identity_at_all(ev):
            blocked("mcp.identity-reaches-tools", "the tool calls carry no credential")
        untestable("no tool call carried a credential of a test user (only bare user ids)")
    if unknowable and len(unknowable) == judged:
        untestable(
            "the tool calls carry tokens other than the users' session tokens, but opaque "
            "ones: whether they were issued for the MCP server cannot be read from them. Sent: "
            + "; ".join(unknowable[:3])
        )


@check(
    id="mcp.tool-error-clean",
    title="A failing tool call ends the turn with a reply or an error event",
    level=MUST,
    pitfall="A tool error is raised out of the turn: the user gets a 500, a stream cut off "
    "mid-way, or a spinner that never stops, instead of an answer saying the tool failed.",
    fix="Let the Agents SDK hand tool failures to the model (keep the default "
    "failure_error_function), and make sure nothing on the way out re-raises past "
    "ChatKitServer's error handling; late failures must end the stream with an error event.",
    ref="openai-agents MCPServer failure_error_function; ChatKit ErrorEvent",
    probes=["mcp"],
)
def test_tool_error_clean(evidence) -> None:
    ev = _ready(evidence["mcp"])
    [turn] = ev.turns_of("failing")
    rec = turn.rec
    if not any(c.failed for c in turn.calls):
        untestable(f"the marked call of {turn.label} never reached the MCP stub, so no tool failed")
    replied = any(
        p.get("item", {}).get("type") == "assistant_message"
        for p in rec.of_type("thread.item.done")
        if isinstance(p.get("item"), dict)
    )
    errored = bool(rec.of_type("error"))
    problem = None
    if rec.status != 200:
        problem = f"HTTP {rec.status or 'no response'}"
    elif rec.transport_error:
        problem = f"the stream broke off: {rec.transport_error}"
    elif not (replied or errored):
        problem = "the stream ended with neither a reply nor an error event"
    if problem:
        fail(
            f"a failing tool call broke the turn ({problem})",
            expected="HTTP 200 and a stream that ends with an assistant reply or an error event",
            actual=f"{turn.label}: {problem} after {turn.elapsed:.1f} s; the tool answered: "
            f"{turn.calls[0].reply[:160] if turn.calls else '-'}",
            evidence=evidence_of(rec),
        )
