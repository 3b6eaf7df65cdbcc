"""Where verification keys come from: the dev issuer's fixed set or a remote JWKS URL."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any, Protocol

# An unknown kid triggers a refetch (the issuer may have rotated), but at most this
# often, so a stream of garbage kids cannot turn the server into a JWKS hammer.
REFETCH_INTERVAL_SECONDS = 5.0
FETCH_TIMEOUT_SECONDS = 5.0


class KeySetError(Exception):
    """The key set could not be fetched or parsed."""


class KeySet(Protocol):
    """A JWKS that can look a key up by kid."""

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        """The JWK whose kid is ``kid``, or None."""
        ...

    async def jwks(self) -> dict[str, Any]:
        """The whole key set (only the ignore-kid fault wants this)."""
        ...


def _index(jwks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise KeySetError("JWKS has no 'keys' list")
    return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


class StaticKeySet:
    """A key set known up front (the development issuer's)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._jwks = jwks
        self._by_kid = _index(jwks)

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        """The JWK whose kid is ``kid``, or None."""
        return self._by_kid.get(kid)

    async def jwks(self) -> dict[str, Any]:
        """The whole key set."""
        return self._jwks


class RemoteKeySet:
    """A JWKS fetched from a URL once, cached, refetched on an unknown kid (rate-limited)."""

    def __init__(self, url: str, *, refetch_interval: float = REFETCH_INTERVAL_SECONDS) -> None:
        self.url = url
        self._refetch_interval = refetch_interval
        self._jwks: dict[str, Any] | None = None
        self._by_kid: dict[str, dict[str, Any]] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def _fetch_sync(self) -> dict[str, Any]:
        # urllib rather than an HTTP client library: one GET, no extra dependency.
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            data = json.loads(response.read())
        if not isinstance(data, dict):
            raise KeySetError("JWKS is not a JSON object")
        return data

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            data = await asyncio.to_thread(self._fetch_sync)
            by_kid = _index(data)
        except (OSError, ValueError, KeySetError) as exc:
            raise KeySetError(f"cannot fetch JWKS from {self.url}: {exc}") from exc
        self._jwks, self._by_kid = data, by_kid

    async def key_for(self, kid: str) -> dict[str, Any] | None:
        """The JWK whose kid is ``kid``, refetching once per interval when it is unknown."""
        if kid in self._by_kid:
            return self._by_kid[kid]
        async with self._lock:
            if kid not in self._by_kid and (
                time.monotonic() - self._fetched_at >= self._refetch_interval
            ):
                await self._refresh()
        return self._by_kid.get(kid)

    async def jwks(self) -> dict[str, Any]:
        """The whole key set, fetched on first use."""
        async with self._lock:
            if self._jwks is None:
                await self._refresh()
        assert self._jwks is not None
        return self._jwks
