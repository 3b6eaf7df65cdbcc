"""The MCP probe: every tool call the target makes for two users, recorded at the MCP stub.

All of the MCP checks' network I/O happens here, in the probe ``mcp``; the checks
(``scenarios/test_mcp.py``) only judge the evidence it returns. The probe talks to the
target as user A alone, then as user B alone, then as both at the same time (two streams in
flight, so a connection or credential shared between requests shows), and last as A with a
message whose tool call the MCP stub answers with an error.

Each probe message carries a marker (``harness.glass.mcp_stub.markers``) that the model stub
copies into the tool call's ``title`` argument, so each call the MCP stub records names the
turn it was made for, whatever identity it carries. Probes run concurrently, so the probe
keeps only the calls (tool calls and model calls) that carry its own nonce.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

from harness.auth.issuer import decode_unverified
from harness.engine.context import ProbeContext
from harness.engine.probes import probe
from harness.glass.box import GlassBox
from harness.glass.mcp_box import McpBox
from harness.glass.mcp_stub import RecordedToolCall, SeenCredential, fingerprint
from harness.glass.model_input import model_text
from harness.glass.model_stub import RecordedModelRequest
from harness.protocol.client import ChatKitClient, RecordedStream
from harness.target.config import Identity

Phase = Literal["alone", "together", "failing"]
# Where an identity reached the tool: what the MCP server authenticated, or what the model
# wrote into the arguments.
HEADER = "authorization header"


@dataclass(frozen=True)
class McpUser:
    """One test user, as far as a tool server could recognise them."""

    name: str  # "A" or "B"
    sub: str | None  # the token's subject, when it is a JWT
    token_fingerprint: str | None
    token_aud: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, identity: Identity) -> McpUser:
        token = identity.token
        if not token:
            return cls(name, None, None)
        decoded = decode_unverified(token)
        claims = decoded[1] if decoded else {}
        aud = claims.get("aud")
        auds = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        sub = claims.get("sub")
        return cls(name, str(sub) if sub is not None else None, fingerprint(token), auds)


@dataclass
class Attribution:
    """Whom one call acts for, and how the tool server could tell."""

    user: str | None  # "A", "B", or None when nothing identifies a test user
    via: str | None  # HEADER, "access_token argument", "user_id argument", or None
    claimed: str | None  # what the call claimed (a sub, a user id), for evidence
    credential: SeenCredential | None = None

    def describe(self) -> str:
        if self.via is None:
            return "no identity"
        who = f"user {self.user}" if self.user else f"an unknown identity ({self.claimed})"
        detail = f": {self.credential.describe()}" if self.credential is not None else ""
        return f"{who} via the {self.via}{detail}"


@dataclass
class McpTurn:
    """One probe message and every tool call made for it."""

    user: McpUser
    phase: Phase
    marker: str
    rec: RecordedStream
    elapsed: float
    calls: list[RecordedToolCall] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"user {self.user.name}'s {self.phase} turn ({self.marker})"


@dataclass
class McpEvidence:
    """What the MCP probe saw; the checks judge only this."""

    mcp_url: str
    users: dict[str, McpUser]
    turns: list[McpTurn]
    calls: list[RecordedToolCall]  # every call the stub received while the probe ran
    model_calls: list[RecordedModelRequest] | None  # None: no model stub in this run
    # The MCP stub names an authorization server that offers token exchange (RFC 8693), so
    # a deployment trusting it can get a token meant for the MCP server.
    exchange_offered: bool = False

    def turns_of(self, *phases: Phase) -> list[McpTurn]:
        return [t for t in self.turns if t.phase in phases]

    def attribute(self, call: RecordedToolCall) -> Attribution:
        """Whom ``call`` acts for, decided as a tool server would: the transport's credential
        first, then a token argument, then a bare user id argument."""
        for seen in (call.header_credential, call.argument_credential):
            if seen is None:
                continue
            user = self.whose(seen)
            if user is not None or seen.sub is not None:
                return Attribution(user, seen.where, seen.sub, seen)
        if call.user_id_argument:
            user = next(
                (u.name for u in self.users.values() if u.sub == call.user_id_argument), None
            )
            return Attribution(user, "user_id argument", call.user_id_argument)
        return Attribution(None, None, None)

    def whose(self, seen: SeenCredential) -> str | None:
        """The test user a credential belongs to: their very token, or a token for their sub."""
        for user in self.users.values():
            if user.token_fingerprint == seen.fingerprint:
                return user.name
        for user in self.users.values():
            if user.sub is not None and seen.sub == user.sub:
                return user.name
        return None

    def mentions(self, call: RecordedToolCall) -> set[str]:
        """Every test user anything in ``call`` points at (header, token or id argument)."""
        found = {self.whose(s) for s in (call.header_credential, call.argument_credential) if s}
        found |= {u.name for u in self.users.values() if u.sub and u.sub == call.user_id_argument}
        return {f for f in found if f is not None}

    def offered_tools(self) -> list[str]:
        """Tool names the target gave its model (from the model stub), in first-seen order."""
        seen: dict[str, None] = {}
        for req in self.model_calls or []:
            for name in req.tools:
                seen.setdefault(name, None)
        return list(seen)


def probe_message(marker: str) -> str:
    # Plain words, so a live model would make the same call the stub makes.
    return f"Please add a task titled {marker} to my task list, using the add_task tool."


async def _turn(
    client: ChatKitClient, identity: Identity, user: McpUser, phase: Phase, marker: str
) -> McpTurn:
    started = time.monotonic()
    rec = await client.create_thread(probe_message(marker), identity=identity)
    return McpTurn(user, phase, marker, rec, time.monotonic() - started)


async def probe_mcp(
    client: ChatKitClient,
    identity_a: Identity,
    identity_b: Identity | None,
    mcp: McpBox,
    box: GlassBox | None,
    *,
    exchange_offered: bool = False,
) -> McpEvidence:
    """Talk to the target as A, as B, as both at once, and through a failing tool."""
    nonce = secrets.token_hex(4)
    users = {"A": McpUser.of("A", identity_a)}
    if identity_b is not None:
        users["B"] = McpUser.of("B", identity_b)
    since = await asyncio.to_thread(mcp.mark)
    model_since = await asyncio.to_thread(box.mark) if box is not None else 0

    def marker(kind: str, label: str) -> str:
        return f"mcp-{kind}-{nonce}-{label}"

    turns = [await _turn(client, identity_a, users["A"], "alone", marker("probe", "a1"))]
    if identity_b is not None:
        turns.append(await _turn(client, identity_b, users["B"], "alone", marker("probe", "b1")))
        # Two streams in flight at once: a client, token or session shared across requests
        # hands one user's identity to the other's tool call.
        turns += await asyncio.gather(
            _turn(client, identity_a, users["A"], "together", marker("probe", "a2")),
            _turn(client, identity_b, users["B"], "together", marker("probe", "b2")),
        )
    turns.append(await _turn(client, identity_a, users["A"], "failing", marker("fail", "a3")))

    calls = [c for c in await asyncio.to_thread(mcp.calls, since) if nonce in (c.marker or "")]
    for turn in turns:
        turn.calls = [c for c in calls if c.marker == turn.marker]
    model_calls = None
    if box is not None:
        made = await asyncio.to_thread(box.calls, model_since)
        model_calls = [c for c in made if nonce in model_text(c)]
    return McpEvidence(mcp.url, users, turns, calls, model_calls, exchange_offered)


@probe("mcp")
async def mcp_identity(ctx: ProbeContext) -> McpEvidence | None:
    """A and B alone, together and through a failing tool; what each tool call carried."""
    identity_a = ctx.target.identity("a")
    if ctx.mcp is None or identity_a is None:
        return None
    stub = ctx.mcp.stub
    return await probe_mcp(
        ctx.main,
        identity_a,
        ctx.target.identity("b"),
        ctx.mcp,
        ctx.glass,
        exchange_offered=bool(stub is not None and stub.state.authorization_server),
    )
