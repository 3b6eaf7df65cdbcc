"""What the reference server does at start-up so that its first MCP turn is not a cold one.

A turn's MCP connection acts for the turn's user, so it is opened per turn and cannot be
opened before anyone asks (docs/mcp.md). What a first turn used to pay on top of a warm one
was not that connection: it was the OpenAI client importing its API resource on first use,
and a CA bundle loaded for every connection's HTTP client. Start-up now does both once; the
timing itself is the latency.cold-start check's (tests/test_fault_matrix.py -k mcp).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx2
import pytest

from harness.auth.issuer import TestIssuer
from harness.glass.mcp_box import McpBox
from reference_server.app import Resources
from reference_server.config import ServerConfig
from reference_server.context import RequestContext
from reference_server.faults import Fault
from reference_server.mcp_tools import McpTools
from reference_server.model_factory import build_model, warm_model


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[TestIssuer, McpBox]]:
    issuer = TestIssuer()
    issuer.start()
    box = McpBox.start(key_sets=[issuer.jwks()], authorization_server=issuer.base_url)
    yield issuer, box
    box.stop()
    issuer.stop()


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # never called


@pytest.mark.parametrize(("model", "resource"), [("openai", "responses"), ("openai-chat", "chat")])
def test_warm_model_loads_the_resource_the_first_call_uses(
    openai_env: None, model: str, resource: str
) -> None:
    built = build_model(replace(ServerConfig(), model=model))  # type: ignore[arg-type]
    client = built._client  # type: ignore[attr-defined]
    # The OpenAI client's resources are cached_property: absent until first used.
    assert resource not in vars(client)
    warm_model(built)
    assert resource in vars(client)


def _resources(tmp_path: Path, box: McpBox, *faults: Fault) -> Resources:
    cfg = ServerConfig(
        db_path=":memory:",
        dev_key_path=tmp_path / "key.pem",
        model="openai",
        mcp_url=box.url,
        faults=frozenset(faults),
    )
    return Resources(cfg)


def test_start_up_warms_the_model_client_and_the_mcp_set_up(
    openai_env: None, tmp_path: Path, stub: tuple[TestIssuer, McpBox]
) -> None:
    _, box = stub
    resources = _resources(tmp_path, box)
    asyncio.run(resources.start())
    try:
        assert "responses" in vars(resources.server.model._client)  # type: ignore[attr-defined]
        mcp = resources.server.mcp
        assert mcp is not None and isinstance(mcp._tls, ssl.SSLContext)
        assert mcp.exchanger._discovered  # the token endpoint, found before the first turn
    finally:
        asyncio.run(resources.stop())


def test_cold_start_fault_warms_nothing(
    openai_env: None, tmp_path: Path, stub: tuple[TestIssuer, McpBox]
) -> None:
    _, box = stub
    resources = _resources(tmp_path, box, Fault.COLD_START)
    asyncio.run(resources.start())
    try:
        assert "responses" not in vars(resources.server.model._client)  # type: ignore[attr-defined]
        assert resources.server.mcp is not None and resources.server.mcp._tls is None
    finally:
        asyncio.run(resources.stop())


def test_each_turn_connects_for_its_user_on_one_tls_context(
    stub: tuple[TestIssuer, McpBox], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer, box = stub
    built: list[ssl.SSLContext] = []
    create = httpx2.create_ssl_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = create(*args, **kwargs)  # type: ignore[arg-type]
        built.append(context)
        return context

    monkeypatch.setattr(httpx2, "create_ssl_context", counting)
    tools = McpTools(replace(ServerConfig(), mcp_url=box.url))
    clients: list[httpx2.AsyncClient] = []
    make_client = tools._http_client

    def recording(**kwargs: object) -> httpx2.AsyncClient:
        client = make_client(**kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    monkeypatch.setattr(tools, "_http_client", recording)

    async def turns() -> list[tuple[str, list[str]]]:
        await tools.warm()
        seen = []
        for sub in ("alice", "bob", "alice"):
            context = RequestContext(user_id=sub, access_token=issuer.mint(sub))
            async with tools.servers_for(context) as [server]:
                names = sorted(t.name for t in await server.list_tools())
                seen.append((server.params["headers"]["Authorization"], names))
        return seen

    seen = asyncio.run(turns())
    # Every turn's HTTP client came from the reference server's factory, on the context
    # built once at start-up.
    assert len(clients) == 3 and len(built) == 1
    assert all({"add_task", "list_tasks"} <= set(names) for _, names in seen)
    # Still one connection per turn, with that turn's user's credential.
    assert seen[0][0] != seen[1][0]
