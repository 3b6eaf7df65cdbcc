"""Glass-box MCP: one handle on the MCP stub, whether the harness runs it or the user does.

The harness runs a :class:`~harness.glass.mcp_stub.McpStub` in-process when it also starts the
target, and hands the target ``MCP_SERVER_URL`` pointing at it, as it hands it
``OPENAI_BASE_URL`` for the model stub. For a deployment the user runs, the user starts
``chatkit-harness mcp-stub --port P`` and points the deployment's MCP URL at it; the harness
reads the recordings over HTTP (``--mcp-stub-url``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from harness.glass.mcp_stub import RecordedToolCall
from harness.glass.mcp_stub import remote as mcp_remote
from harness.protocol.tls import tls_context

if TYPE_CHECKING:
    from harness.glass.mcp_stub import McpStub

# The setting a deployment reads its MCP server URL from (the reference server does).
MCP_URL_ENV = "MCP_SERVER_URL"


class McpStubUnreachable(Exception):
    """The user's MCP stub did not answer; the message is one line."""


class McpBox:
    """The MCP stub of this run: its URL and its recordings."""

    def __init__(self, url: str, stub: McpStub | None = None) -> None:
        self.url = url
        self.stub = stub  # None: a stub in another process, read over /_stub

    @classmethod
    def start(
        cls,
        *,
        key_sets: Sequence[Mapping[str, Any] | KeySetFetcher] = (),
        authorization_server: str | None = None,
        port: int = 0,
    ) -> McpBox:
        """Run a stub in this process on 127.0.0.1 (``port`` 0: a free one).

        ``key_sets`` are the JWKS whose tokens the stub counts as verified: fixed ones, or
        fetchers of a JWKS URL.
        """
        from harness.glass.mcp_stub import McpStub

        trusted = list(key_sets)

        def sets() -> Sequence[Mapping[str, Any]]:
            return [k.get() if isinstance(k, KeySetFetcher) else k for k in trusted]

        stub = McpStub(port=port, key_sets=sets, authorization_server=authorization_server)
        stub.start()
        return cls(stub.url, stub)

    @classmethod
    def connect(cls, url: str) -> McpBox:
        """Use a stub the user runs; fail with one line when it does not answer like one."""
        try:
            mcp_remote.fetch_calls(url, since=0)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
            raise McpStubUnreachable(
                f"no MCP stub answers at {url} ({reason}); start one with "
                "`chatkit-harness mcp-stub --port P` and pass --mcp-stub-url "
                "http://127.0.0.1:P/mcp"
            ) from None
        return cls(url)

    def stop(self) -> None:
        if self.stub is not None:
            self.stub.stop()

    def env(self) -> dict[str, str]:
        """What a target the harness starts needs to use this stub as its MCP server."""
        return {MCP_URL_ENV: self.url}

    def mark(self) -> int:
        """The index the next call will get: pass it to :meth:`calls` as ``since``."""
        done = self._fetch(0)
        return done[-1].index + 1 if done else 0

    def calls(self, since: int = 0) -> list[RecordedToolCall]:
        return self._fetch(since)

    def wait_for(self, count: int, since: int, timeout: float = 3.0) -> list[RecordedToolCall]:
        """Calls from ``since`` on, once ``count`` arrived or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._fetch(since)
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def _fetch(self, since: int) -> list[RecordedToolCall]:
        if self.stub is not None:
            return [c for c in self.stub.calls if c.index >= since]
        return mcp_remote.fetch_calls(self.url, since=since)


def url_key_set(url: str, *, refetch_after: float = 60.0) -> KeySetFetcher:
    """A key set fetched from ``url`` when first needed and refreshed now and then."""
    return KeySetFetcher(url, refetch_after)


class KeySetFetcher:
    """A JWKS URL the stub trusts (the deployment's own issuer, --deployment-jwks)."""

    def __init__(self, url: str, refetch_after: float) -> None:
        self.url = url
        self.refetch_after = refetch_after
        self._jwks: Mapping[str, Any] = {"keys": []}
        self._fetched = float("-inf")

    def get(self) -> Mapping[str, Any]:
        if time.monotonic() - self._fetched > self.refetch_after:
            response = httpx.get(self.url, timeout=5.0, verify=tls_context())
            response.raise_for_status()
            data = response.json()
            self._jwks = data if isinstance(data, dict) else {"keys": []}
            self._fetched = time.monotonic()
        return self._jwks
