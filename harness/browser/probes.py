"""What the browser checks need to know beyond the page: recorded once per run, then judged.

- :func:`probe_auth` asks the endpoint the page talks to what it needs: a read-only
  ``threads.list`` with no credentials, with the page's own credential headers, and with each
  of them left out in turn (and, when the page's requests were refused, with the harness's
  configured identity, to name what the page lacked). A backend that answers without anything
  needs nothing, and a page cannot be blamed for not sending it.
- :func:`probe_proxy` streams one reply through the page's proxy route with the headers the
  page itself sent (its session cookie, or nothing for an anonymous dev proxy) and the same
  reply straight from the backend, so the two arrival patterns can be compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from harness.browser.recorder import NetRequest, PageRecord
from harness.protocol.client import (
    ChatKitClient,
    Exchange,
    JsonResponse,
    RecordedStream,
    TargetUnreachable,
    user_input,
)
from harness.target.config import Identity, Target

# Headers every browser fetch carries on its own: never a credential the page chose to send.
BROWSER_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "dnt",
        "host",
        "origin",
        "pragma",
        "priority",
        "referer",
        "user-agent",
    }
)
PROBE_BODY = json.dumps({"type": "threads.list", "params": {"limit": 1, "order": "desc"}}).encode()
PROXY_MESSAGE = (
    "Please stream a reply through the proxy route, one small piece at a time, so the "
    "harness can see whether the events arrive as the backend sends them or all at once."
)
Observer = Callable[[Exchange], None]


def credential_headers(req: NetRequest) -> dict[str, str]:
    """The headers of a page request that the page (or its cookies) added: the candidates."""
    return {
        name: value
        for name, value in req.headers.items()
        if name not in BROWSER_HEADERS and not name.startswith("sec-") and not name.startswith(":")
    }


def context_headers(req: NetRequest) -> dict[str, str]:
    """Origin and Referer as the page sent them: a backend may check them, so probes keep them."""
    return {k: v for k, v in req.headers.items() if k in ("origin", "referer")}


def accepted(ex: Exchange | None) -> bool:
    return ex is not None and not ex.transport_error and 200 <= ex.status < 300


def refused(ex: Exchange | None) -> bool:
    """Answered, and not with success: a 401, 403, 422 or even a 500 on a missing header."""
    return ex is not None and not ex.transport_error and ex.status >= 300


@dataclass
class AuthProbe:
    """What one endpoint the page talks to needs, and what the page's first request sent."""

    endpoint: str
    page_headers: dict[str, str]
    anonymous: JsonResponse | None = None
    with_page: JsonResponse | None = None
    without: dict[str, JsonResponse] = field(default_factory=dict)
    with_identity: JsonResponse | None = None
    identity_headers: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the endpoint could not be reached at all

    @property
    def needs_nothing(self) -> bool:
        return accepted(self.anonymous)

    @property
    def conclusive(self) -> bool:
        """The probe request itself works here (else its answers say nothing about auth)."""
        return accepted(self.anonymous) or accepted(self.with_page) or accepted(self.with_identity)

    @property
    def required(self) -> list[str]:
        """The page's headers without which the endpoint refuses (lower-case names)."""
        if not accepted(self.with_page):
            return []
        return [name for name, ex in self.without.items() if refused(ex)]

    @property
    def missing(self) -> list[str]:
        """Identity headers that made the endpoint answer and that the page did not send."""
        if not accepted(self.with_identity):
            return []
        return [
            name
            for name in self.identity_headers
            if name.lower() not in self.page_headers and name.lower() != "content-type"
        ]

    def exchanges(self) -> list[Exchange]:
        out: list[Exchange | None] = [self.anonymous, self.with_page, *self.without.values()]
        out.append(self.with_identity)
        return [ex for ex in out if ex is not None]


def _probe_target(target: Target) -> Target:
    """The target with no credentials of its own: every probe says exactly what it sends."""
    return replace(target, token=None, token_command=None, cookie=None, headers={})


async def _list(client: ChatKitClient, url: str, headers: Mapping[str, str]) -> JsonResponse:
    who = Identity("probe", headers=dict(headers))
    return await client.request_raw(PROBE_BODY, request_type="threads.list", identity=who, url=url)


async def probe_auth(
    target: Target, rec: PageRecord, observers: Iterable[Observer] = ()
) -> dict[str, AuthProbe]:
    """One :class:`AuthProbe` per endpoint the page's ChatKit requests went to, and one (no
    credentials only) for the backend when the page talks to it through a route of its own."""
    firsts: dict[str, NetRequest] = {}
    for req in rec.chatkit_requests:
        firsts.setdefault(req.endpoint, req)
    out: dict[str, AuthProbe] = {}
    async with ChatKitClient(_probe_target(target), on_exchange=observers) as client:
        for endpoint, req in firsts.items():
            probe = AuthProbe(endpoint, credential_headers(req))
            base = context_headers(req)
            url = req.url
            try:
                probe.anonymous = await _list(client, url, base)
                if not accepted(probe.anonymous):
                    probe.with_page = await _list(client, url, {**base, **probe.page_headers})
                    if accepted(probe.with_page):
                        for name in probe.page_headers:
                            rest = {k: v for k, v in probe.page_headers.items() if k != name}
                            probe.without[name] = await _list(client, url, {**base, **rest})
                    if any(r.status in (401, 403) for r in rec.chatkit_requests):
                        identity = target.identity("a")
                        probe.identity_headers = {
                            **dict(target.headers),
                            **(dict(identity.headers) if identity else {}),
                        }
                        if probe.identity_headers:
                            probe.with_identity = await _list(
                                client, url, {**base, **probe.identity_headers}
                            )
            except TargetUnreachable as exc:
                probe.error = str(exc)
            out[endpoint] = probe
        # The backend behind a proxy route: does it need anything itself?
        backend = endpoint_of(target.url)
        if target.url and backend not in out:
            probe = AuthProbe(backend, {})
            try:
                probe.anonymous = await _list(client, target.url, {})
            except TargetUnreachable as exc:
                probe.error = str(exc)
            out[backend] = probe
    return out


def endpoint_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass
class ProxyProbe:
    """One reply streamed through the page's proxy route and the same straight from the backend."""

    endpoint: str
    page_headers: dict[str, str]
    via_proxy: RecordedStream | None = None
    direct: RecordedStream | None = None
    error: str = ""


async def probe_proxy(
    target: Target, req: NetRequest, observers: Iterable[Observer] = ()
) -> ProxyProbe:
    """Stream through the route as the page did (its own headers), then from the backend."""
    page_headers = {**context_headers(req), **credential_headers(req)}
    probe = ProxyProbe(req.endpoint, page_headers)
    try:
        async with ChatKitClient(_probe_target(target), on_exchange=observers) as client:
            who = Identity("page", headers=page_headers)
            body = client.body("threads.create", {"input": user_input(PROXY_MESSAGE)})
            probe.via_proxy = await client.stream_raw(
                body, request_type="threads.create", identity=who, url=req.url
            )
        async with ChatKitClient(target, on_exchange=observers) as client:
            probe.direct = await client.create_thread(PROXY_MESSAGE)
    except TargetUnreachable as exc:
        probe.error = str(exc)
    return probe
