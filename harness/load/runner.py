"""Running the ChatKit user on Locust as a library: locally, as a master, or as a worker.

Importing this module imports Locust (gevent monkey-patching); only the ``load`` subcommand
does, and only once every option has been checked.

Distributed runs use Locust's own master/worker protocol. The master sends the workers
their share of users and aggregates their statistics; when the run time is over it stops
them, each worker checks its own users' invariants and sends the result to the master as
a custom message (``chatkit_invariants``), and the master merges them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import locust  # noqa: F401  (first: it monkey-patches before the rest imports sockets)
from locust.env import Environment
from locust.rpc import Message
from locust.stats import (
    CSV_STATS_INTERVAL_SEC,
    PERCENTILES_TO_REPORT,
    StatsCSVFileWriter,
    stats_history,
)

from harness.load.invariants import check_all, merge
from harness.load.plan import LoadContext
from harness.load.user import ChatKitUser

INVARIANTS_MESSAGE = "chatkit_invariants"
PROGRESS_EVERY = 2.0


class RunFailed(Exception):
    """The run could not start or be completed (exit 2)."""


@dataclass
class Outputs:
    csv: str | None = None
    html: str | None = None
    web: bool = False
    web_port: int = 8089
    quiet: bool = False


@dataclass
class Outcome:
    stats: Any
    invariants: dict[str, Any]
    wall: float
    workers: int
    users: int
    per_worker: dict[str, int] = field(default_factory=dict)  # worker id -> requests


def _quiet_logging() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="locust: %(message)s")
    # Its per-spawn and per-worker chatter is INFO; keep warnings (CPU saturation) visible.
    logging.getLogger("locust").setLevel(logging.WARNING)


def _environment(ctx: LoadContext, host: str | None) -> Environment:
    env = Environment(user_classes=[ChatKitUser], host=host, stop_timeout=0.0)
    env.chatkit = ctx  # type: ignore[attr-defined]  # read by ChatKitUser
    return env


def _progress(env: Environment, started: float, quiet: bool) -> None:
    if quiet:
        return
    runner = env.runner
    assert runner is not None
    ttfe = [e for (name, method), e in env.stats.entries.items() if method == "TTFE"]
    hist: dict[int, int] = {}
    for e in ttfe:
        for k, v in e.response_times.items():
            hist[k] = hist.get(k, 0) + v
    from harness.load.metrics import percentile

    p95 = percentile(hist, 0.95)
    total = env.stats.total
    print(
        f"load: {time.monotonic() - started:5.0f} s  users {runner.user_count:>4}  "
        f"{total.current_rps:6.1f} req/s  failures {total.num_failures:>5}  "
        f"TTFE p95 so far {'-' if p95 != p95 else f'{p95:.0f} ms'}",
        file=sys.stderr,
        flush=True,
    )


def _drive(env: Environment, run_time: float, outputs: Outputs) -> float:
    """Sleep through the run time, printing progress; returns the start time."""
    started = time.monotonic()
    end = started + run_time
    while (left := end - time.monotonic()) > 0:
        gevent.sleep(min(PROGRESS_EVERY, left))
        _progress(env, started, outputs.quiet)
    return started


def _side_outputs(env: Environment, outputs: Outputs) -> Callable[[], None]:
    """Locust's own CSV writer, history for the HTML report, and the web UI; returns the
    function that finishes them."""
    runner = env.runner
    assert runner is not None
    greenlets = [gevent.spawn(stats_history, runner)]
    writer = None
    if outputs.csv:
        writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, outputs.csv, False)
        greenlets.append(gevent.spawn(writer.stats_writer))
    if outputs.web:
        # Locust's UI parses sys.argv with its own options to fill its form: ours would
        # fail there ("ambiguous option --web"), and they are parsed already.
        sys.argv = sys.argv[:1]
        env.create_web_ui("127.0.0.1", outputs.web_port)
        if not outputs.quiet:
            print(f"load: web UI on http://127.0.0.1:{outputs.web_port}", file=sys.stderr)

    def finish() -> None:
        if writer is not None:
            # Locust's writer rewrites the files every second: let it write the final
            # figures once more before it is stopped.
            gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)
        if outputs.html:
            from locust.html import get_html_report

            with open(outputs.html, "w", encoding="utf-8") as fh:
                fh.write(get_html_report(env, show_download_link=False))
        for g in greenlets:
            g.kill(block=True)
        if writer is not None:
            writer.close_files()
        if env.web_ui is not None:
            env.web_ui.stop()

    return finish


def run_local(
    ctx: LoadContext, users: int, spawn_rate: float, run_time: float, settle: float, o: Outputs
) -> Outcome:
    _quiet_logging()
    assert ctx.url is not None
    env = _environment(ctx, ctx.url)
    runner = env.create_local_runner()
    finish = _side_outputs(env, o)
    runner.start(users, spawn_rate)
    started = _drive(env, run_time, o)
    runner.stop()
    wall = time.monotonic() - started
    if not o.quiet:
        print("load: run over; checking invariants over the settled store", file=sys.stderr)
    invariants = check_all(ctx.registry, ctx.url, settle=settle, timeout=ctx.timeout)
    finish()
    runner.quit()
    return Outcome(env.stats, invariants, wall, 1, users)


def run_master(
    ctx: LoadContext,
    users: int,
    spawn_rate: float,
    run_time: float,
    settle: float,
    o: Outputs,
    *,
    bind_host: str,
    port: int,
    expect_workers: int,
    wait_workers: float,
) -> Outcome:
    _quiet_logging()
    env = _environment(ctx, ctx.url)
    try:
        runner = env.create_master_runner(bind_host, port)
    except Exception as exc:  # zmq's bind error
        raise RunFailed(f"cannot listen for workers on {bind_host}:{port}: {exc}") from None
    results: dict[str, dict[str, Any]] = {}

    def on_invariants(environment: Any, msg: Any, **_: Any) -> None:
        results[msg.node_id] = msg.data

    runner.register_message(INVARIANTS_MESSAGE, on_invariants)
    per_worker: dict[str, int] = {}

    def on_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        # Each report holds the requests since the worker's last one.
        sent = sum(
            int(e.get("num_requests", 0))
            for e in data.get("stats", [])
            if e.get("method") == "POST"
        )
        per_worker[client_id] = per_worker.get(client_id, 0) + sent

    env.events.worker_report.add_listener(on_report)
    deadline = time.monotonic() + wait_workers
    if not o.quiet:
        print(
            f"load: master on port {port}, waiting for {expect_workers} worker(s)", file=sys.stderr
        )
    while runner.worker_count < expect_workers:
        if time.monotonic() > deadline:
            runner.quit()
            raise RunFailed(
                f"only {runner.worker_count} of {expect_workers} workers connected within "
                f"{wait_workers:g} s (start them with: chatkit-harness load --worker "
                f"--master-host HOST --master-port {port})"
            )
        gevent.sleep(0.1)
    workers = runner.worker_count
    worker_ids = [c.id for c in runner.clients.all]
    finish = _side_outputs(env, o)
    runner.start(users, spawn_rate)
    started = _drive(env, run_time, o)
    runner.stop()
    wall = time.monotonic() - started
    if not o.quiet:
        print("load: run over; the workers check their users' invariants", file=sys.stderr)
    # Each worker polls its users' threads for at most `settle` s, with requests of at most
    # the target timeout each; beyond that a worker is lost, and that is a failure.
    deadline = time.monotonic() + settle + ctx.timeout + 30
    while len(results) < workers and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = [w for w in worker_ids if w not in results]
    gevent.sleep(0.5)  # the workers' last statistics, sent just before their invariants
    finish()
    for node in worker_ids:
        # Stopped workers rejoin as "ready" only a moment later: tell each to quit by id.
        runner.server.send_to_client(Message("quit", None, node))
    runner.quit()
    merged = merge(list(results.values()))
    if missing:
        merged["_missing_workers"] = missing
        merged["complete-streams"]["violations"] += len(missing)
        merged["complete-streams"]["evidence"].append(
            {
                "invariant": "complete-streams",
                "user": "master",
                "detail": f"{len(missing)} worker(s) sent no invariant result: {missing}",
            }
        )
    return Outcome(env.stats, merged, wall, workers, users, per_worker)


def run_worker(ctx: LoadContext, master_host: str, master_port: int, settle: float) -> int:
    """Run users for a master until it says quit; returns 1 when this worker's users broke
    an invariant (the master's verdict is the one that counts)."""
    _quiet_logging()
    env = _environment(ctx, None)
    verdict = {"failed": False}

    def on_stop(environment: Any, **_: Any) -> None:
        url = ctx.url or environment.host
        if not url or not ctx.registry.users:
            result = merge([])
        else:
            result = check_all(ctx.registry, url, settle=settle, timeout=ctx.timeout)
        from harness.load.invariants import failed

        verdict["failed"] = bool(failed(result))
        runner = environment.runner
        # The last requests' statistics before the verdict (a private method: its absence
        # must not lose the verdict).
        with contextlib.suppress(Exception):
            runner._send_stats()
        runner.send_message(INVARIANTS_MESSAGE, result)
        ctx.registry.users.clear()  # a second run on the same worker starts afresh

    env.events.test_stop.add_listener(on_stop)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except Exception as exc:
        raise RunFailed(f"cannot reach the master at {master_host}:{master_port}: {exc}") from None
    runner.greenlet.join()
    return 1 if verdict["failed"] else 0
