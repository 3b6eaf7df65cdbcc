"""What one load worker process costs: the ChatKit user against a plain Locust HTTP user.

Both drive the same conversation (threads.create, two more messages, threads.list,
items.list, threads.update) against the bundled reference server, with the same users and
tokens. The ChatKit user reads every stream incrementally through the harness's SSE parser
and measures TTFE/TTFT/gaps; the plain one is Locust's FastHttpUser reading each body whole
(no parsing: the thread id is cut out with one regex). Each runs in a process of its own;
the figure is that process's CPU time during the load window (startup excluded).

On 2 shared cores the reference server saturates long before a load process does, so the
same pair also runs against a replay server (the reference server's recorded answers, sent
back by a bare asyncio server without pacing): there the generator is the bottleneck, and
its events per CPU-second and the users one process drives at 100 % of a core (users /
CPU share, with think time 0) are the figures that carry over. Printed per target and
user class: requests and events per second, generator CPU share of one core, events per
CPU-second, and the plain/ChatKit ratio of CPU per event. Noisy on a shared machine:
compare within one run.

    .venv/bin/python benchmarks/load_overhead.py [--quick] [--users 40] [--run-time 20]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_util import ROOT, header, line, parser

CHILD = "--child"


# -- the child: one Locust local runner, one user class --------------------------------------


def _child(mode: str, url: str, users: int, run_time: float, key: str) -> None:
    import gevent
    from locust import FastHttpUser, constant, task
    from locust.env import Environment

    from harness.auth.issuer import TestIssuer, load_or_create_key
    from harness.load.plan import LoadContext, identity_factory
    from harness.load.user import ChatKitUser
    from harness.target.config import Target

    issuer = TestIssuer(key=load_or_create_key(key))
    counts = {"events": 0}
    thread_re = re.compile(rb'"thread":\{"id":"([^"]+)"')

    class PlainUser(FastHttpUser):
        wait_time = constant(0)

        def on_start(self) -> None:
            self.auth = {"Authorization": f"Bearer {issuer.mint(f'plain-{id(self)}')}"}

        def _post(self, type_: str, params: dict[str, Any], name: str) -> bytes:
            body = json.dumps({"type": type_, "params": params})
            headers = {**self.auth, "Content-Type": "application/json"}
            with self.client.post(
                "/chatkit", data=body, headers=headers, name=name, catch_response=True
            ) as resp:
                content = resp.content or b""
                counts["events"] += content.count(b"\n\n")
                return content

        @task
        def conversation(self) -> None:
            def msg(i: int) -> dict[str, Any]:
                content = [{"type": "input_text", "text": f"load test message {i}"}]
                return {"content": content, "attachments": [], "inference_options": {}}

            body = self._post("threads.create", {"input": msg(0)}, "threads.create")
            m = thread_re.search(body)
            if not m:
                return
            tid = m.group(1).decode()
            for i in (1, 2):
                params = {"thread_id": tid, "input": msg(i)}
                self._post("threads.add_user_message", params, "threads.add_user_message")
            self._post("threads.list", {"limit": 20, "order": "desc"}, "threads.list")
            self._post("items.list", {"thread_id": tid, "limit": 50}, "items.list")
            self._post("threads.update", {"thread_id": tid, "title": "t"}, "threads.update")

    if mode == "chatkit":
        env = Environment(user_classes=[ChatKitUser], host=url, stop_timeout=0.0)
        env.chatkit = LoadContext(  # type: ignore[attr-defined]
            url=url, identities=identity_factory(Target(url=url), issuer.mint), think_time=0.0
        )
    else:
        env = Environment(user_classes=[PlainUser], host=url.rsplit("/chatkit", 1)[0])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(2.0)  # every user spawned and past its first request
    c0, t0 = time.process_time(), time.monotonic()
    requests0, events0 = _requests(env), _events(env, counts, mode)
    gevent.sleep(run_time)
    c1, t1 = time.process_time(), time.monotonic()
    requests1, events1 = _requests(env), _events(env, counts, mode)
    runner.quit()
    print(
        json.dumps(
            {
                "cpu": c1 - c0,
                "wall": t1 - t0,
                "events": events1 - events0,
                "requests": requests1 - requests0,
                "failures": env.stats.total.num_failures,
            }
        ),
        flush=True,
    )


def _requests(env: Any) -> int:
    return sum(e.num_requests for (_, method), e in env.stats.entries.items() if method == "POST")


def _events(env: Any, counts: dict[str, int], mode: str) -> int:
    if mode == "plain":
        return counts["events"]
    return sum(u.events for u in env.chatkit.registry.users)


# -- the replay server: recorded reference-server answers, as fast as asyncio sends them --------


def _record(url: str, key: str) -> dict[str, tuple[str, bytes]]:
    """One answer of each request type from the reference server: (content type, body)."""
    from harness.auth.issuer import TestIssuer, load_or_create_key
    from harness.load.conversation import request_body, user_message
    from harness.load.http import Connection

    issuer = TestIssuer(key=load_or_create_key(key))
    conn = Connection(url)
    hdrs = {
        "Authorization": f"Bearer {issuer.mint('recorder')}",
        "Content-Type": "application/json",
    }
    out: dict[str, tuple[str, bytes]] = {}

    def call(type_: str, params: dict[str, Any]) -> bytes:
        resp = conn.post(request_body(type_, params), hdrs)
        out[type_] = (resp.headers.get("content-type", "application/json"), resp.body)
        return resp.body

    body = call("threads.create", {"input": user_message("load test message 0")})
    m = re.search(rb'"thread":\{"id":"([^"]+)"', body)
    assert m, "the reference server streamed no thread.created"
    tid = m.group(1).decode()
    call("threads.add_user_message", {"thread_id": tid, "input": user_message("again")})
    call("threads.list", {"limit": 20, "order": "desc"})
    call("items.list", {"thread_id": tid, "limit": 50, "order": "asc"})
    call("threads.update", {"thread_id": tid, "title": "t"})
    conn.close()
    return out


def _replay_server(answers: dict[str, tuple[str, bytes]]) -> tuple[str, Any]:
    """An HTTP/1.1 keep-alive server answering each request type with its recording."""
    import asyncio
    import threading

    type_re = re.compile(rb'"type"\s*:\s*"([^"]+)"')
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
                body = await reader.readexactly(length)
                m = type_re.search(body)
                ctype, payload = answers.get(
                    m.group(1).decode() if m else "", answers["threads.list"]
                )
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, AttributeError):
            writer.close()

    def serve() -> None:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        state["port"] = server.sockets[0].getsockname()[1]
        state["loop"] = loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{state['port']}/chatkit", state["loop"]


# -- the parent ------------------------------------------------------------------------------


def _run_child(mode: str, url: str, users: int, run_time: float, key: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, __file__, CHILD, mode, url, str(users), str(run_time), key],
        capture_output=True,
        text=True,
        timeout=run_time + 120,
        env=env,
    )
    rows = [row for row in out.stdout.splitlines() if row.startswith("{")]
    if out.returncode != 0 or not rows:
        raise SystemExit(f"{mode} child failed: {out.stderr.strip()[-400:]}")
    result: dict[str, Any] = json.loads(rows[-1])
    return result


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--users", type=int, default=40, help="users against the reference server")
    p.add_argument(
        "--replay-users", type=int, default=50, help="users against the replay server (50)"
    )
    p.add_argument("--run-time", type=float, help="seconds measured per mode (20, --quick 8)")
    ns = p.parse_args()
    run_time = ns.run_time or (8.0 if ns.quick else 20.0)
    header(f"load generator overhead: {ns.users} users, {run_time:g} s per mode")
    from harness.auth.issuer import TestIssuer, load_or_create_key
    from harness.target.launch import start_reference_server

    key = str(Path(tempfile.mkdtemp(prefix="load-overhead-")) / "issuer.pem")
    issuer = TestIssuer(key=load_or_create_key(key))
    issuer.start()
    trust = ["--jwks-url", issuer.jwks_url, "--issuer", issuer.issuer]
    server = start_reference_server(["--db", ":memory:", *trust, "--audience", issuer.audience])
    results: dict[str, dict[str, dict[str, Any]]] = {}
    try:
        answers = _record(server.url, key)
        replay_url, replay_loop = _replay_server(answers)
        targets = [("reference", server.url, ns.users), ("replay", replay_url, ns.replay_users)]
        for where, url, users in targets:
            print(f"-- against the {where} server, {users} users", flush=True)
            results[where] = {}
            for mode in ("chatkit", "plain"):
                r = _run_child(mode, url, users, run_time, key)
                share = r["cpu"] / r["wall"]
                eps = r["events"] / r["wall"]
                row = {
                    **r,
                    "share": share,
                    "eps": eps,
                    "per_cpu": r["events"] / max(r["cpu"], 1e-9),
                }
                results[where][mode] = row
                print(
                    f"{mode:<8} {r['requests'] / r['wall']:7.1f} requests/s, {eps:7.0f} events/s, "
                    f"generator CPU {share * 100:5.1f} % of a core, "
                    f"{row['per_cpu']:7.0f} events per CPU-second",
                    flush=True,
                )
        replay_loop.call_soon_threadsafe(replay_loop.stop)
    finally:
        server.stop()
        issuer.stop()
    for where in results:
        ck, plain = results[where]["chatkit"], results[where]["plain"]
        line(
            f"{where}: CPU per event, ChatKit / plain user",
            f"{plain['per_cpu'] / ck['per_cpu']:.2f}x",
            "informational",
            None,
        )
    ref = results["reference"]["chatkit"]
    line(
        "reference: ChatKit users one process drives",
        f"~{ns.users / max(ref['share'], 1e-9):.0f} at {ref['eps'] / ref['share']:.0f} ev/s",
        "informational (users / CPU share, at this server's pace)",
        None,
    )
    ck = results["replay"]["chatkit"]
    line(
        "replay: ChatKit users one process drives",
        f"~{ns.replay_users / max(ck['share'], 1e-9):.0f} at {ck['eps'] / ck['share']:.0f} ev/s",
        "informational (users / CPU share)",
        None,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
        sys.exit(0)
    sys.exit(main())
