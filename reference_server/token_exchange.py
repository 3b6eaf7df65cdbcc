"""A token for the MCP server, not the user's session token: OAuth token exchange.

The user's token was issued for this ChatKit server (its audience). MCP authorization
(specification 2025-06-18) has a tool server accept only tokens issued for itself, and forbids
passing a client's token through to another service. So before calling tools the server
finds the MCP server's authorization server (protected-resource metadata, RFC 9728, then the
authorization server's metadata, RFC 8414) and exchanges the user's token there for one whose
audience is the MCP server (RFC 8693 token exchange with an RFC 8707 resource indicator).

An MCP server that publishes no such metadata is taken to be part of this deployment (same
audience), and gets the user's token as is.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TIMEOUT_SECONDS = 5.0
# An exchanged token is reused until this long before it expires.
EXPIRY_MARGIN_SECONDS = 30.0


class TokenExchangeError(Exception):
    """The authorization server refused or did not answer; the message is one line."""


@dataclass
class _Cached:
    token: str
    expires_at: float


def _metadata_urls(resource: str) -> list[str]:
    """RFC 9728 section 3.1: the path-inserted form first, then the origin's."""
    parts = urlsplit(resource)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    well_known = "/.well-known/oauth-protected-resource"
    return [origin + well_known + path, origin + well_known] if path else [origin + well_known]


class TokenExchanger:
    """Finds the MCP server's token endpoint once, and exchanges each user's token there."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self._endpoint: str | None = None
        self._discovered = False
        self._lock = asyncio.Lock()
        self._cache: dict[str, _Cached] = {}
        self._tls: ssl.SSLContext | None = None

    def _client(self) -> httpx.AsyncClient:
        # One TLS context for every exchange: building one loads the CA bundle each time.
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, verify=self._tls)

    async def token_endpoint(self, http: httpx.AsyncClient) -> str | None:
        """The token-exchange endpoint of the MCP server's authorization server, or None."""
        async with self._lock:
            if not self._discovered:
                try:
                    self._endpoint = await self._discover(http)
                except httpx.HTTPError:
                    return None  # the MCP server is not up (yet): ask again next time
                self._discovered = True
            return self._endpoint

    async def warm(self) -> None:
        """Discover the token endpoint at start-up, so the first turn does not pay for it."""
        async with self._client() as http:
            await self.token_endpoint(http)

    async def _discover(self, http: httpx.AsyncClient) -> str | None:
        servers: list[str] = []
        for url in _metadata_urls(self.resource):
            response = await http.get(url)
            if response.status_code == 200:
                found = response.json().get("authorization_servers")
                servers = (
                    [s for s in found if isinstance(s, str)] if isinstance(found, list) else []
                )
                break
        for server in servers:
            url = server.rstrip("/") + "/.well-known/oauth-authorization-server"
            try:
                response = await http.get(url)
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            meta = response.json()
            grants = meta.get("grant_types_supported") or []
            if TOKEN_EXCHANGE in grants and isinstance(meta.get("token_endpoint"), str):
                return str(meta["token_endpoint"])
        return None

    async def token_for(self, subject_token: str) -> str:
        """A token for the MCP server on behalf of ``subject_token``'s user."""
        key = hashlib.sha256(subject_token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached.expires_at - EXPIRY_MARGIN_SECONDS > time.time():
            return cached.token
        async with self._client() as http:
            endpoint = await self.token_endpoint(http)
            if endpoint is None:
                return subject_token  # the MCP server shares this deployment's audience
            try:
                response = await http.post(
                    endpoint,
                    data={
                        "grant_type": TOKEN_EXCHANGE,
                        "subject_token": subject_token,
                        "subject_token_type": ACCESS_TOKEN_TYPE,
                        "requested_token_type": ACCESS_TOKEN_TYPE,
                        "resource": self.resource,
                    },
                )
            except httpx.HTTPError as exc:
                raise TokenExchangeError(f"token exchange at {endpoint} failed: {exc}") from None
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            reason = body.get("error") if isinstance(body, dict) else None
            raise TokenExchangeError(
                f"token exchange at {endpoint} refused: HTTP {response.status_code} {reason or ''}"
            )
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
        self._cache[key] = _Cached(token, time.time() + seconds)
        if len(self._cache) > 1000:  # bounded: one entry per recently active user
            self._cache.pop(next(iter(self._cache)))
        return token
