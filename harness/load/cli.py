"""``chatkit-harness load``: check every option, then start Locust.

Exit codes: 0 thresholds held and every invariant passed; 1 a threshold was crossed or an
invariant failed (or, on a worker, its own users broke one); 2 the run could not start
(bad option, unreachable target, refused credential, no workers), one line on stderr.

Locust is imported only after the options are known to be good: it monkey-patches the
standard library, and nothing else in the harness should ever run patched.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.exits import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, internal_error
from harness.load.config import LoadConfigError, LoadSettings, load_settings, target_flags


class LoadProblem(Exception):
    """The run could not start; one line for the user."""


def _writable(path: str | None, what: str) -> None:
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise LoadProblem(f"{what} path {path!r} is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise LoadProblem(f"cannot write {what} to {path!r}: no folder {str(parent)!r}")
    if not os.access(parent, os.W_OK):
        raise LoadProblem(f"cannot write {what} to {path!r}: folder is not writable")


def _validate(ns: argparse.Namespace) -> tuple[LoadSettings, Any]:
    from harness.target.config import ConfigError, load_target

    try:
        settings = load_settings(ns)
        target = load_target(target_flags(ns))
    except (LoadConfigError, ConfigError) as exc:
        raise LoadProblem(str(exc)) from None
    if ns.fault and target.url:
        raise LoadProblem("--fault runs the bundled reference server: leave out --url")
    if ns.db and target.url:
        raise LoadProblem("--db is the bundled reference server's store: leave out --url")
    if ns.worker and (ns.fault or ns.db):
        raise LoadProblem("a --worker runs users only; give --fault/--db to the master")
    if ns.master and not target.url and not target.issuer_key:
        raise LoadProblem(
            "--master with the bundled reference server needs --issuer-key FILE, given to "
            "every worker too: the workers mint their users' tokens with that key"
        )
    if not 0 < ns.master_port < 65536:
        raise LoadProblem(f"--master-port {ns.master_port} is not a TCP port")
    if ns.expect_workers < 1:
        raise LoadProblem("--expect-workers must be at least 1")
    _writable(ns.json, "the JSON result")
    _writable(ns.html, "the HTML report")
    _writable((ns.csv + "_stats.csv") if ns.csv else None, "the CSV statistics")
    return settings, target


def _preflight(url: str, ctx: Any) -> None:
    """One threads.list as a fresh user: unreachable or refused means exit 2, at once."""
    from harness.load.conversation import ChatKitSession, Registry, UserRecord, new_marker

    name, headers, unique = ctx.identities(10**9)
    record = UserRecord(name=name, marker=new_marker(), headers=headers, unique=unique)
    session = ChatKitSession(
        url, record, Registry(), extra_headers=ctx.extra_headers, timeout=ctx.timeout
    )
    try:
        res = session.call("threads.list", {"limit": 1, "order": "desc"})
    finally:
        session.close()
    if res.transport_error:
        raise LoadProblem(f"cannot reach {url}: {res.transport_error}")
    if res.status in (401, 403):
        raise LoadProblem(
            f"{url} refused the simulated user's credential (HTTP {res.status}); pass "
            "--token, --issuer-port or --issuer-key the deployment trusts"
        )
    if res.status in (404, 405):
        raise LoadProblem(f"no ChatKit endpoint at {url} (HTTP {res.status})")


def _verdict(result: dict[str, Any]) -> tuple[int, str]:
    from harness.load.invariants import failed

    reasons = [f"threshold {t['threshold']} crossed" for t in result["thresholds"] if t["crossed"]]
    reasons += [f"invariant {name} failed" for name in failed(result["invariants"])]
    if not result["metrics"]["requests"]:
        reasons.append("no request was made")
    if reasons:
        return EXIT_FAILED, "FAILED: " + "; ".join(reasons)
    return EXIT_OK, "passed"


def main(argv: Sequence[str]) -> int:
    from harness.load.config import build_parser

    ns = build_parser().parse_args(list(argv))
    return cmd_load(ns)


def cmd_load(ns: argparse.Namespace) -> int:
    try:
        return _load(ns)
    except LoadProblem as exc:
        print(f"chatkit-harness: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("chatkit-harness: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return internal_error(exc)


def _load(ns: argparse.Namespace) -> int:
    settings, target = _validate(ns)
    try:
        from harness.load import runner as load_runner
    except ImportError as exc:
        raise LoadProblem(f"load needs Locust ({exc}); pip install locust") from None
    from harness.auth.issuer import IssuerKeyError, issuer_for
    from harness.load.plan import LoadContext, identity_factory
    from harness.target.launch import LaunchError, start_reference_server

    bundled = not target.url and not ns.worker
    mint = bundled or target.issuer_port is not None or bool(target.issuer_key)
    issuer = None
    launched = None
    try:
        if mint:
            try:
                issuer = issuer_for(target)
            except IssuerKeyError as exc:
                raise LoadProblem(str(exc)) from None
            if (bundled or target.issuer_port is not None) and not ns.worker:
                try:
                    issuer.start(target.issuer_port or 0)
                except OSError as exc:
                    where = f"127.0.0.1:{target.issuer_port or 0}"
                    reason = exc.strerror or type(exc).__name__
                    raise LoadProblem(
                        f"cannot serve the test issuer on {where}: {reason}"
                    ) from None
        url = target.url or None
        if bundled:
            assert issuer is not None
            args = ["--db", ns.db or ":memory:", "--jwks-url", issuer.jwks_url]
            args += ["--issuer", issuer.issuer, "--audience", issuer.audience]
            for fault in ns.fault:
                args += ["--fault", fault]
            try:
                launched = start_reference_server(args)
            except LaunchError as exc:
                raise LoadProblem(str(exc)) from None
            if launched.died() is not None:
                raise LoadProblem(f"the bundled reference server exited{launched.tail()}")
            url = launched.url
        extra = dict(target.headers)
        if target.cookie:
            extra["Cookie"] = target.cookie
        ctx = LoadContext(
            url=url,
            identities=identity_factory(target, issuer.mint if issuer else None),
            extra_headers=extra,
            timeout=target.timeout,
            turns=settings.turns,
            think_time=settings.think_time,
        )
        outputs = load_runner.Outputs(
            csv=ns.csv, html=ns.html, web=ns.web, web_port=ns.web_port, quiet=ns.quiet
        )
        if ns.worker:
            try:
                return load_runner.run_worker(ctx, ns.master_host, ns.master_port, settings.settle)
            except load_runner.RunFailed as exc:
                raise LoadProblem(str(exc)) from None
        assert url is not None
        _preflight(url, ctx)
        try:
            if ns.master:
                outcome = load_runner.run_master(
                    ctx,
                    settings.users,
                    settings.spawn_rate,
                    settings.run_time,
                    settings.settle,
                    outputs,
                    bind_host=ns.master_bind_host,
                    port=ns.master_port,
                    expect_workers=ns.expect_workers,
                    wait_workers=ns.expect_workers_timeout,
                )
            else:
                outcome = load_runner.run_local(
                    ctx,
                    settings.users,
                    settings.spawn_rate,
                    settings.run_time,
                    settings.settle,
                    outputs,
                )
        except load_runner.RunFailed as exc:
            raise LoadProblem(str(exc)) from None
        return _finish(ns, settings, target, outcome)
    finally:
        if launched is not None:
            launched.stop()
        if issuer is not None:
            issuer.stop()


def _finish(ns: argparse.Namespace, settings: LoadSettings, target: Any, outcome: Any) -> int:
    from harness.load.metrics import compute, judge
    from harness.load.report import render, write_json

    figures = compute(outcome.stats, outcome.wall)
    result: dict[str, Any] = {
        "metrics": figures["metrics"],
        "rows": figures["rows"],
        "errors": figures["errors"],
        "thresholds": judge(figures["metrics"], settings.thresholds),
        "invariants": outcome.invariants,
        "users": outcome.users,
        "workers": outcome.workers,
        "wall": outcome.wall,
        "run_time": settings.run_time,
        "mode": "master" if ns.master else "local",
        "per_worker": outcome.per_worker,
    }
    code, verdict = _verdict(result)
    result["verdict"] = verdict
    result["exit_code"] = code
    secrets = target.secrets()
    render(result, sys.stdout, secrets)
    if ns.json:
        try:
            write_json(result, ns.json, secrets)
        except OSError as exc:
            raise LoadProblem(f"cannot write the JSON result: {exc}") from None
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    if math.isnan(result["metrics"]["ttfe_p95"]) and not result["metrics"]["requests"]:
        return EXIT_FAILED
    return code
