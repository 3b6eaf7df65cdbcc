"""A small site for the fixture pages: static files, a session endpoint, and a CORS front.

Used by the harness's own tests and benchmarks to serve ``fixtures/pages`` (and the bundled
React page) the way a small app would:

- ``GET /config.js`` sets ``window.CHATKIT_CONFIG = {apiUrl, domainKey}``: where the backend is.
- ``GET /session`` reads the httpOnly ``auth_token`` cookie and answers ``{token, user}``
  (401 without it), as a session endpoint of an auth library would.
- ``GET /api/me`` answers ``{id, name}`` of the user of the httpOnly cookie (401 without it),
  never the token: what a page behind the cookie proxy needs for ``userInfo``.
- ``POST /api/chatkit-session`` is the guide's httpOnly cookie proxy (its Next.js
  ``app/api/chatkit/route.ts``): it reads the ``auth_token`` cookie, answers 401 without it,
  and sends the request upstream with ``Authorization: Bearer <token>``, streaming the answer.
- ``GET /api/auth/jwks`` serves the test issuer's key set, as an auth library's JWKS route
  does, for pages that check an ID token kept in ``localStorage``.
- ``POST /login`` (a form: ``email``, ``password``) signs one of ``accounts`` in: it sets the
  httpOnly session cookie and redirects to ``next``; a wrong password gets the form again.
- ``POST /api/chatkit`` is a dev-server proxy (as Vite's ``server.proxy`` is): the request goes
  to the backend untouched, anonymous or not, and the answer streams back.
- A second listener passes ``POST`` requests through to the ChatKit backend unchanged, adding
  the CORS headers a cross-origin page needs (the backend itself may not send them), and
  relays the answer chunk by chunk so streaming stays streaming.
"""

from __future__ import annotations

import base64
import http.client
import json
import mimetypes
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

SESSION_COOKIE = "auth_token"
# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing this front sets itself.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
DOMAIN_KEY = "domain_pk_localhost_dev"


def _claims(token: str) -> dict[str, Any]:
    """The JWT payload, unverified: only used to show who is logged in."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cookie(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _relay(
    handler: BaseHTTPRequestHandler,
    upstream_url: str,
    path: str,
    extra_headers: Callable[[], None] = lambda: None,
    rewrite: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> None:
    """POST the request to ``path`` of ``upstream_url`` (its headers through ``rewrite``,
    else unchanged); stream the answer back."""
    upstream = urlsplit(upstream_url)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
    if rewrite is not None:
        headers = rewrite(headers)
    conn = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        handler.send_response(resp.status)
        extra_headers()
        for name, value in resp.getheaders():
            lower = name.lower()
            if lower not in _HOP | {"date", "server"} and not lower.startswith("access-control-"):
                handler.send_header(name, value)
        # Re-chunked as it arrives, so a stream stays a stream.
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
    except OSError:
        handler.close_connection = True
    finally:
        conn.close()


@dataclass
class FixtureSite:
    """Serves ``mounts`` (URL prefix -> directory) and fronts ``backend_url`` with CORS.

    ``accounts`` maps an e-mail address to (password, session token) for ``POST /login``;
    ``jwks_url`` is where ``/api/auth/jwks`` gets its keys.
    """

    backend_url: str
    mounts: Mapping[str, Path]
    accounts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    jwks_url: str = ""
    _servers: list[_Server] = field(default_factory=list)

    def start(self) -> FixtureSite:
        self._servers = [
            _Server(("127.0.0.1", 0), self._page_handler()),
            _Server(("127.0.0.1", 0), self._cors_handler()),
        ]
        for server in self._servers:
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            ).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The page origin, with a trailing slash."""
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}/"

    @property
    def api_url(self) -> str:
        """The ChatKit endpoint as the pages see it (the CORS front)."""
        path = urlsplit(self.backend_url).path or "/"
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}{path}"

    # -- the page listener ------------------------------------------------------------------

    def _page_handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Pages(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/config.js":
                    cfg = {"apiUrl": site.api_url, "domainKey": DOMAIN_KEY}
                    body = f"window.CHATKIT_CONFIG = {json.dumps(cfg)};\n".encode()
                    self._send(200, "application/javascript", body)
                elif path == "/session":
                    token = _cookie(self.headers.get("Cookie"), SESSION_COOKIE)
                    if not token:
                        self._send(401, "application/json", b'{"error": "not logged in"}')
                        return
                    claims = _claims(token)
                    user = {"id": claims.get("sub", ""), "name": claims.get("name", "")}
                    body = json.dumps({"token": token, "user": user}).encode()
                    self._send(200, "application/json", body)
                elif path == "/api/me":
                    token = _cookie(self.headers.get("Cookie"), SESSION_COOKIE)
                    claims = _claims(token) if token else {}
                    if not claims.get("sub"):
                        self._send(401, "application/json", b'{"error": "Not authenticated"}')
                        return
                    me = {"id": str(claims["sub"]), "name": str(claims.get("name", ""))}
                    self._send(200, "application/json", json.dumps(me).encode())
                elif path == "/api/auth/jwks" and site.jwks_url:
                    import urllib.request

                    with urllib.request.urlopen(site.jwks_url, timeout=10) as resp:
                        self._send(200, "application/json", resp.read())
                else:
                    self._static(path)

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                if path == "/api/chatkit":
                    # Chunked relaying needs an HTTP/1.1 status line.
                    self.protocol_version = "HTTP/1.1"
                    query = urlsplit(self.path).query
                    upstream = urlsplit(site.backend_url).path or "/"
                    _relay(self, site.backend_url, upstream + (f"?{query}" if query else ""))
                elif path == "/api/chatkit-session":
                    self._cookie_proxy()
                elif path == "/login":
                    self._login()
                else:
                    self._send(404, "text/plain", b"not found")

            def _cookie_proxy(self) -> None:
                token = _cookie(self.headers.get("Cookie"), SESSION_COOKIE)
                if not token:
                    length = int(self.headers.get("Content-Length") or 0)
                    self.rfile.read(length)
                    self._send(401, "application/json", b'{"error": "Not authenticated"}')
                    return
                self.protocol_version = "HTTP/1.1"
                upstream = urlsplit(site.backend_url).path or "/"

                def only_auth(headers: dict[str, str]) -> dict[str, str]:
                    # As the guide's route does: the upstream gets the session as a bearer
                    # token and the body; never the browser's cookies.
                    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

                _relay(self, site.backend_url, upstream, rewrite=only_auth)

            def _login(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8", errors="replace"))
                email = (form.get("email") or [""])[0]
                password = (form.get("password") or [""])[0]
                target = (form.get("next") or ["/"])[0]
                account = site.accounts.get(email)
                if account is None or account[0] != password or not target.startswith("/"):
                    self.send_response(303)
                    self.send_header("Location", "/login.html?failed=1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(303)
                self.send_header(
                    "Set-Cookie", f"{SESSION_COOKIE}={account[1]}; Path=/; HttpOnly; SameSite=Lax"
                )
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _static(self, path: str) -> None:
                for prefix, root in sorted(site.mounts.items(), key=lambda kv: -len(kv[0])):
                    if not path.startswith(prefix):
                        continue
                    rel = path[len(prefix) :].lstrip("/") or "index.html"
                    file = (root / rel).resolve()
                    if file.is_dir():
                        file = file / "index.html"
                    if root.resolve() in file.parents and file.is_file():
                        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                        self._send(200, ctype, file.read_bytes())
                        return
                self._send(404, "text/plain", b"not found")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Pages

    # -- the CORS front of the backend ------------------------------------------------------

    def _cors_handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Cors(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _cors(self) -> None:
                origin = self.headers.get("Origin")
                self.send_header("Access-Control-Allow-Origin", origin or "*")
                self.send_header("Vary", "Origin")

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self._cors()
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                asked = self.headers.get("Access-Control-Request-Headers", "")
                self.send_header("Access-Control-Allow-Headers", asked or "*")
                self.send_header("Access-Control-Max-Age", "600")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                _relay(self, site.backend_url, self.path, self._cors)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Cors


@dataclass
class FixtureStack:
    """The test issuer, the bundled reference server trusting it, and a :class:`FixtureSite`.

    ``args`` are extra reference-server flags (a fault mode, say). ``token`` is a valid token of
    the test user; ``cookie`` the ``--frontend-cookie`` value the fixture pages expect;
    ``email`` and ``password`` sign the same user in through the site's ``/login`` form.
    """

    mounts: Mapping[str, Path]
    args: tuple[str, ...] = ()
    token: str = ""
    backend_url: str = ""
    site: FixtureSite | None = None
    email: str = "alice@example.com"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    _stop: list[Any] = field(default_factory=list)

    cookie = f"{SESSION_COOKIE}={{token}}"

    def start(self) -> FixtureStack:
        from harness.auth.issuer import TestIssuer
        from harness.target.launch import start_reference_server

        issuer = TestIssuer()
        issuer.start()
        self._stop.append(issuer.stop)
        try:
            server = start_reference_server(
                [
                    "--db",
                    ":memory:",
                    "--jwks-url",
                    issuer.jwks_url,
                    "--issuer",
                    issuer.issuer,
                    "--audience",
                    issuer.audience,
                    *self.args,
                ],
                timeout=90,  # a shared CI machine can take a while to import the SDK
            )
            self._stop.append(server.stop)
            self.backend_url = server.url
            self.token = issuer.mint("alice")
            self.site = FixtureSite(
                server.url,
                self.mounts,
                accounts={self.email: (self.password, self.token)},
                jwks_url=issuer.jwks_url,
            ).start()
            self._stop.append(self.site.stop)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._stop:
            self._stop.pop()()

    def __enter__(self) -> FixtureStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def harness_options(self, page: str) -> dict[str, str]:
        """The ``--chatkit-*`` options that point the harness at ``page`` of this site."""
        assert self.site is not None
        return {
            "url": self.site.api_url,
            "token": self.token,
            "frontend-url": self.site.url + page.lstrip("/"),
            "frontend-cookie": self.cookie,
            "script": "standin",
        }


# -- the bundled pages, served for a harness run ------------------------------------------------

BUNDLED_SCHEME = "bundled:"
PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


def bundled_page(frontend_url: str | None) -> str | None:
    """The page name of ``--frontend-url bundled:PAGE``, else None."""
    if frontend_url and frontend_url.startswith(BUNDLED_SCHEME):
        return frontend_url[len(BUNDLED_SCHEME) :].lstrip("/") or "cookie-proxy.html"
    return None


def bundled_pages() -> list[str]:
    return sorted(p.name for p in PAGES.glob("*.html")) if PAGES.is_dir() else []


@dataclass
class BundledPage:
    """``--frontend-url bundled:PAGE``: ``fixtures/pages/PAGE`` served in front of the target.

    The page site relays every ChatKit request to the target's URL: its CORS front stands for
    the backend itself (a page that talks to it talks to the backend directly), its
    ``/api/chatkit-session`` route is the page's own httpOnly cookie proxy. ``jwks_url`` is
    where pages that check an ID token get the keys (the test issuer's).
    """

    backend_url: str
    page: str
    jwks_url: str = ""
    site: FixtureSite | None = None

    def start(self) -> BundledPage:
        from harness.target.config import ConfigError

        if self.page not in bundled_pages():
            known = ", ".join(bundled_pages()) or "none (fixtures/pages is not here)"
            raise ConfigError(f"--frontend-url bundled:{self.page}: no such page; pages: {known}")
        self.site = FixtureSite(self.backend_url, {"/": PAGES}, jwks_url=self.jwks_url).start()
        return self

    def stop(self) -> None:
        if self.site is not None:
            self.site.stop()
            self.site = None

    @property
    def url(self) -> str:
        assert self.site is not None
        return self.site.url + self.page

    @property
    def backend_endpoints(self) -> tuple[str, ...]:
        """Endpoints that are the backend as far as the page is concerned (the CORS front)."""
        assert self.site is not None
        return (self.site.api_url,)
