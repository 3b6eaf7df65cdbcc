"""The browser package's parts that need no browser: discovery, settings, evidence helpers,
the fixture site, and the one-line harness error when no Chromium exists."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.browser import standin
from harness.browser.fixture_server import FixtureSite
from harness.browser.launch import ENV_VAR, BrowserUnavailable, system_chromium
from harness.browser.recorder import NetRequest, _utf8_body, empty_bearer
from harness.browser.session import save_artifacts, session_cookies
from harness.target.config import ConfigError, Target
from harness.target.launch import LaunchError
from scenarios.test_browser import _bursts, _normalise, _prefix_shown

# -- finding a browser ---------------------------------------------------------------------


def test_explicit_chromium_must_be_executable(tmp_path: Path) -> None:
    with pytest.raises(BrowserUnavailable, match=ENV_VAR):
        system_chromium({ENV_VAR: str(tmp_path / "missing"), "PATH": ""})
    assert issubclass(BrowserUnavailable, LaunchError)  # a harness error: exit 2


def test_system_chromium_found_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "chromium-browser"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert system_chromium({"PATH": str(tmp_path)}) == str(fake)
    assert system_chromium({"PATH": str(tmp_path / "empty")}) is None


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_no_browser_is_one_line_and_exit_2(listening: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["PATH"] = "/nonexistent"
    env["PLAYWRIGHT_BROWSERS_PATH"] = "/nonexistent"  # hide any downloaded browser too
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--url",
            f"http://127.0.0.1:{listening}/chatkit",
            "--frontend-url",
            "http://127.0.0.1:9/",
            "--script",
            "standin",
            "--select",
            "browser.*",
            "--plain",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "playwright install chromium" in lines[0]
    assert "apt-get install chromium" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


# -- settings --------------------------------------------------------------------------------


def test_script_mode_is_validated_and_explicit_modes_do_not_probe() -> None:
    assert standin.resolve_mode("standin") == "standin"
    assert standin.resolve_mode("cdn") == "cdn"
    with pytest.raises(ConfigError):
        standin.resolve_mode("local")


def test_auto_mode_uses_the_cdn_only_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standin, "cdn_reachable", lambda timeout=3.0: True)
    assert standin.resolve_mode("auto") == "cdn"
    monkeypatch.setattr(standin, "cdn_reachable", lambda timeout=3.0: False)
    assert standin.resolve_mode("auto") == "standin"


def test_standin_is_packaged() -> None:
    source = standin.standin_source()
    assert 'customElements.define("openai-chatkit"' in source
    for method in ("setOptions", "sendUserMessage", "setThreadId", "fetchUpdates", "focusComposer"):
        assert f"async {method}(" in source


def test_session_cookie_is_site_wide_httponly_with_the_token() -> None:
    target = Target(
        url="http://127.0.0.1:1/chatkit",
        token="tok-123456",
        frontend_url="https://shop.example/app/chat",
        frontend_cookie="auth_token={token}; theme=dark",
    )
    cookies = session_cookies(target)
    assert [c["name"] for c in cookies] == ["auth_token", "theme"]
    first = cookies[0]
    assert first["value"] == "tok-123456"
    assert (first["domain"], first["path"], first["secure"], first["httpOnly"]) == (
        "shop.example",
        "/",
        True,
        True,
    )


def test_session_cookie_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        session_cookies(Target(frontend_url="http://x/", frontend_cookie="novalue"))
    with pytest.raises(ConfigError, match="no token"):
        session_cookies(Target(frontend_url="http://x/", frontend_cookie="a={token}"))


# -- evidence helpers ------------------------------------------------------------------------


def test_devtools_latin1_body_is_repaired() -> None:
    real = "Page: Order help · Shop".encode()
    garbled = real.decode("latin-1").encode("utf-8")
    assert _utf8_body(garbled, {"content-type": "text/event-stream"}) == real
    assert _utf8_body(real, {"content-type": "text/event-stream"}) == real
    assert _utf8_body(garbled, {"content-type": "text/plain; charset=utf-8"}) == garbled


def test_sse_body_read_as_windows_1252_is_restored() -> None:
    """DevTools reads a charset-less body as windows-1252, where byte 0x80 is "€": a reply with
    "…" (E2 80 A6) and "·" must come back whole, or its render never matches it."""
    real = 'data: {"delta": "Order help · Example Shop | http://h/cookie-pro… – done"}\n\n'.encode()
    garbled = real.decode("cp1252", errors="strict").encode("utf-8")
    assert _utf8_body(garbled, {"content-type": "text/event-stream"}) == real


def test_empty_bearer() -> None:
    assert empty_bearer("Bearer undefined") and empty_bearer("bearer null")
    assert empty_bearer("Bearer ")
    assert not empty_bearer("Bearer abc")


def test_chatkit_request_recognised_by_its_envelope() -> None:
    body = json.dumps({"type": "threads.create", "params": {"input": {"metadata": {"a": 1}}}})
    req = NetRequest("http://h/chatkit?x=1", "POST", "fetch", {}, body)
    assert req.chatkit_type == "threads.create"
    assert req.input_metadata == {"a": 1}
    assert req.endpoint == "http://h/chatkit"
    assert NetRequest("http://h/", "POST", "fetch", {}, '{"q": 1}').chatkit_type is None
    assert NetRequest("http://h/", "GET", "fetch", {}, None).chatkit_type is None


def test_prefix_shown_and_context_normalising() -> None:
    reply = "Hello there, world"
    assert _prefix_shown(reply, "user: hi\nHello th") == len("Hello th")
    assert _prefix_shown(reply, "nothing") == 0
    assert _prefix_shown(reply, f"x {reply} y") == len(reply)
    assert _normalise("headings", ["A", " B ", ""]) == "A, B"
    assert _normalise("url", "http://h/p#frag") == "http://h/p"


def test_bursts_group_chunks_arriving_together() -> None:
    from harness.protocol.client import RecordedStream

    rec = RecordedStream("threads.create", b"", {}, "http://h")
    rec.chunks = [(0.100, b"aa"), (0.102, b"b"), (0.200, b"c"), (0.300, b""), (0.400, b"dd")]
    assert _bursts(rec) == [(0.100, 3), (0.200, 1), (0.400, 2)]


def test_saved_artifacts_are_masked(tmp_path: Path) -> None:
    import zipfile

    from harness.browser.recorder import PageRecord

    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    trace = tmp_path / "logged-in-trace.zip"
    with zipfile.ZipFile(trace, "w") as z:
        z.writestr("trace.network", json.dumps({"headers": {"authorization": f"Bearer {secret}"}}))
        z.writestr("resources/blob.png", b"\x89PNG" + secret.encode())
    har = tmp_path / "logged-in.har"
    har.write_text(json.dumps({"cookie": f"auth_token={secret}"}))
    rec = PageRecord("http://h/", True, "standin", artifacts=[trace, har])
    saved = save_artifacts(rec, tmp_path / "out", [secret])
    assert {p.name for p in saved} == {"trace.zip", "page.har"}
    assert secret not in (tmp_path / "out" / "page.har").read_text()
    with zipfile.ZipFile(tmp_path / "out" / "trace.zip") as z:
        assert secret.encode() not in z.read("trace.network")


# -- the fixture site ------------------------------------------------------------------------


def test_fixture_site_session_config_and_cors(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>hi</p>")
    with FixtureSite("http://127.0.0.1:9/chatkit", {"/": tmp_path}) as site:
        with urllib.request.urlopen(site.url) as resp:
            assert resp.read() == b"<p>hi</p>"
        with urllib.request.urlopen(site.url + "config.js") as resp:
            assert site.api_url.encode() in resp.read()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(site.url + "session")
        assert info.value.code == 401
        payload = "eyJzdWIiOiJhbGljZSIsIm5hbWUiOiJBbGljZSJ9"  # {"sub":"alice","name":"Alice"}
        token = f"x.{payload}.y"
        req = urllib.request.Request(
            site.url + "session", headers={"Cookie": f"auth_token={token}"}
        )
        with urllib.request.urlopen(req) as resp:
            assert json.loads(resp.read()) == {
                "token": token,
                "user": {"id": "alice", "name": "Alice"},
            }
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(site.url + "../etc/passwd")
        assert info.value.code == 404
        preflight = urllib.request.Request(
            site.api_url,
            method="OPTIONS",
            headers={
                "Origin": site.url.rstrip("/"),
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        with urllib.request.urlopen(preflight) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == site.url.rstrip("/")
            assert resp.headers["Access-Control-Allow-Headers"] == "authorization,content-type"


def test_fixture_site_login_dev_proxy_and_jwks(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str | None, bytes]] = []

    class Upstream(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(b'{"keys": []}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, self.headers.get("Authorization"), body))
            self._answer(b"data: {}\n\n", "text/event-stream")

        def _answer(self, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    no_redirects = urllib.request.build_opener(_NoRedirect)
    try:
        accounts = {"a@example.com": ("pw-123", "tok-abc")}
        site = FixtureSite(f"{base}/chatkit", {"/": tmp_path}, accounts, jwks_url=f"{base}/jwks")
        with site:
            # The dev proxy: anonymous requests go to the backend path untouched, streamed.
            req = urllib.request.Request(site.url + "api/chatkit", data=b'{"type": "x"}')
            with urllib.request.urlopen(req) as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                assert resp.read() == b"data: {}\n\n"
            assert seen == [("/chatkit", None, b'{"type": "x"}')]
            with urllib.request.urlopen(site.url + "api/auth/jwks") as resp:
                assert json.loads(resp.read()) == {"keys": []}
            form = b"email=a%40example.com&password=pw-123&next=%2Fcorrect.html"
            with pytest.raises(urllib.error.HTTPError) as info:
                no_redirects.open(urllib.request.Request(site.url + "login", data=form))
            assert info.value.code == 303
            assert info.value.headers["Location"] == "/correct.html"
            assert "auth_token=tok-abc" in info.value.headers["Set-Cookie"]
            assert "HttpOnly" in info.value.headers["Set-Cookie"]
            wrong = form.replace(b"pw-123", b"nope")
            with pytest.raises(urllib.error.HTTPError) as info:
                no_redirects.open(urllib.request.Request(site.url + "login", data=wrong))
            assert info.value.headers["Location"] == "/login.html?failed=1"
            assert info.value.headers["Set-Cookie"] is None
    finally:
        upstream.shutdown()
        upstream.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_browser_recordings_are_a_probe_of_the_record_phase() -> None:
    """Every browser and proxy check declares the recordings probe, and it is not quiet: the
    timed probes (and a --start cold-start restart) wait until the page was recorded."""
    from harness.engine.probes import get_probe
    from harness.registry import load_catalogue

    specs = [s for s in load_catalogue().values() if s.id.startswith(("browser.", "proxy."))]
    assert len(specs) == 9
    assert all("browser-recordings" in s.probes for s in specs), [s.id for s in specs]
    assert get_probe("browser-recordings").quiet is False
