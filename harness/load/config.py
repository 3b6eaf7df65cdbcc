"""The ``load`` subcommand's options, thresholds and durations (no Locust import here).

Thresholds follow k6's spirit: ``--fail-on 'ttfe_p95>1.0'`` fails the run when the figure
crosses the limit. Times are seconds (``800ms`` is accepted too). They may also come from
``[tool.chatkit-harness.load]`` in the current directory's pyproject.toml::

    [tool.chatkit-harness.load]
    users = 50
    spawn-rate = 10
    run-time = "2m"
    fail-on = ["ttfe_p95>1.0", "error_rate>0.01"]

Command-line values win over the file; ``--fail-on`` on the command line replaces the file's.
"""

from __future__ import annotations

import argparse
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Metric -> what it is. Times in seconds, rates as fractions.
METRICS: dict[str, str] = {
    "ttfe_p50": "time to first event, median (s)",
    "ttfe_p95": "time to first event, 95th percentile (s)",
    "ttfe_p99": "time to first event, 99th percentile (s)",
    "ttfe_max": "time to first event, slowest (s)",
    "ttft_p95": "time to first assistant text delta, 95th percentile (s)",
    "gap_p95": "inter-event gap: 95th percentile over streams of each stream's p95 (s)",
    "duration_p95": "whole request (stream to its end), 95th percentile (s)",
    "error_rate": "failed requests / requests (status, transport, error event, cut stream)",
    "rps": "requests per second",
    "requests": "requests sent",
    "failures": "failed requests",
}
TIME_METRICS = {m for m in METRICS if m.startswith(("ttfe", "ttft", "gap", "duration"))}
_OPS = (">=", "<=", ">", "<")
_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*([0-9.eE+-]+)\s*(ms|s)?\s*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)?")


class LoadConfigError(Exception):
    """A bad load option; the message is one line for the user."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    limit: float
    text: str

    def crossed(self, value: float) -> bool:
        if math.isnan(value):
            return True  # a figure that could not be measured cannot pass a gate
        return {
            ">": value > self.limit,
            ">=": value >= self.limit,
            "<": value < self.limit,
            "<=": value <= self.limit,
        }[self.op]


def parse_threshold(text: str) -> Threshold:
    m = _THRESHOLD.match(text)
    if not m:
        raise LoadConfigError(
            f"threshold {text!r} is not METRIC>LIMIT (e.g. 'ttfe_p95>1.0', 'error_rate>0.01')"
        )
    metric, op, raw, unit = m.groups()
    if metric not in METRICS:
        raise LoadConfigError(
            f"threshold {text!r}: unknown metric {metric!r} (known: {', '.join(METRICS)})"
        )
    try:
        limit = float(raw)
    except ValueError:
        raise LoadConfigError(f"threshold {text!r}: {raw!r} is not a number") from None
    if unit == "ms":
        if metric not in TIME_METRICS:
            raise LoadConfigError(f"threshold {text!r}: {metric} is not a time")
        limit /= 1000
    return Threshold(metric, op, limit, text.strip())


def parse_duration(text: str) -> float:
    """'60s', '2m', '1h30m', '500ms' or a plain number of seconds."""
    s = str(text).strip().lower()
    pos, total = 0, 0.0
    if not s:
        raise LoadConfigError("run time is empty")
    for m in _DURATION.finditer(s):
        if m.start() != pos or not m.group(0):
            break
        value, unit = float(m.group(1)), m.group(2) or "s"
        total += value * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        pos = m.end()
    if pos != len(s) or total <= 0:
        raise LoadConfigError(f"run time {text!r} is not a duration like 60s, 2m or 1h30m")
    return total


# The target options of `run` that make sense under load (same names, same Target fields).
TARGET_FLAGS: dict[str, tuple[str, str]] = {
    "url": ("url", "ChatKit endpoint URL (default: start the bundled reference server)"),
    "token": ("token", "bearer token every simulated user sends (one shared identity)"),
    "token-command": ("token_command", "command that prints the shared bearer token"),
    "token-b": ("token_b", "a second bearer token: users alternate between the two"),
    "cookie": ("cookie", "Cookie header value sent with every request"),
    "user-headers-a": (
        "user_headers_a",
        "headers identifying a user, 'Name: value; ...' ('{user}' becomes one id per user)",
    ),
    "user-headers-b": ("user_headers_b", "headers of a second user, 'Name: value; ...'"),
    "timeout": ("timeout", "seconds of silence before one request is given up (default 30)"),
    "issuer-port": (
        "issuer_port",
        "serve the test issuer on 127.0.0.1:PORT; every simulated user gets its own token",
    ),
    "issuer-iss": ("issuer_iss", "iss claim of test-issuer tokens"),
    "issuer-aud": ("issuer_aud", "aud claim of test-issuer tokens"),
    "issuer-kid": ("issuer_kid", "kid of the test issuer's key (default: its thumbprint)"),
    "jwks-path": ("jwks_path", "path of the test issuer's JWKS (default /.well-known/jwks.json)"),
    "issuer-claims": ("issuer_claims", "extra claims as a JSON object; '{sub}' is the user"),
    "issuer-key": (
        "issuer_key",
        "PEM file of the test issuer's key: mint a token per user with it (give every "
        "worker the same file)",
    ),
}


HELP = "ChatKit conversations under load (Locust), with invariants checked afterwards"
DESCRIPTION = (
    "Simulated users hold ChatKit conversations against the target (Locust, local or "
    "distributed); thresholds and invariants decide the exit code."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's own contract)
        self.exit(2, f"chatkit-harness load: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser ``chatkit-harness load`` really parses with."""
    p = _Parser(prog="chatkit-harness load", description=DESCRIPTION)
    add_load_options(p)
    return p


def add_load_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``load`` on the CLI's subparsers, for its help (``main`` dispatches ``load``
    before that parser is built)."""
    p: argparse.ArgumentParser = sub.add_parser("load", help=HELP, description=DESCRIPTION)
    add_load_options(p)
    return p


def add_load_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("target")
    for name, (_, help_) in TARGET_FLAGS.items():
        g.add_argument(f"--{name}", dest=name.replace("-", "_"), help=help_)
    g.add_argument("-H", "--header", action="append", default=[], help="extra header 'Name: value'")
    g.add_argument(
        "--fault",
        action="append",
        default=[],
        help="run the bundled reference server with this fault mode (demo, repeatable)",
    )
    g.add_argument("--db", help="the bundled reference server's store (default :memory:)")
    w = p.add_argument_group("load")
    w.add_argument("-u", "--users", type=int, help="simulated users (default 10)")
    w.add_argument("-r", "--spawn-rate", type=float, help="users started per second (default 10)")
    w.add_argument("-t", "--run-time", help="how long the load lasts: 60s, 2m... (default 60s)")
    w.add_argument("--turns", type=int, help="messages per conversation after the first (2)")
    w.add_argument(
        "--think-time",
        type=float,
        help="seconds a user pauses between requests (default 0.5; 0 = as fast as it can)",
    )
    w.add_argument(
        "--settle",
        type=float,
        help="seconds the invariant check may poll for late writes (default 5)",
    )
    t = p.add_argument_group("gates and output")
    t.add_argument(
        "--fail-on",
        action="append",
        default=None,
        metavar="EXPR",
        help="fail (exit 1) when e.g. 'ttfe_p95>1.0' or 'error_rate>0.01' (repeatable; "
        f"metrics: {', '.join(METRICS)})",
    )
    t.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE")
    t.add_argument("--csv", metavar="PREFIX", help="Locust's CSV statistics files, PREFIX_*.csv")
    t.add_argument("--html", metavar="FILE", help="Locust's HTML report to FILE")
    t.add_argument("--web", action="store_true", help="serve Locust's web UI while it runs")
    t.add_argument("--web-port", type=int, default=8089, help="port of the web UI (8089)")
    t.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    d = p.add_argument_group("distributed (Locust master/worker)")
    role = d.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="drive workers, aggregate results")
    role.add_argument("--worker", action="store_true", help="run users for a master")
    d.add_argument("--master-host", default="127.0.0.1", help="the master to join (--worker)")
    d.add_argument("--master-port", type=int, default=5557, help="master port (5557)")
    d.add_argument("--master-bind-host", default="*", help="interface the master listens on (all)")
    d.add_argument("--expect-workers", type=int, default=1, help="workers to wait for (1)")
    d.add_argument(
        "--expect-workers-timeout",
        type=float,
        default=60.0,
        help="seconds the master waits for them (60)",
    )


@dataclass(frozen=True)
class LoadSettings:
    users: int = 10
    spawn_rate: float = 10.0
    run_time: float = 60.0
    turns: int = 2
    think_time: float = 0.5
    settle: float = 5.0
    thresholds: tuple[Threshold, ...] = ()


_FILE_KEYS = {"users", "spawn-rate", "run-time", "turns", "think-time", "settle", "fail-on"}


def _from_pyproject(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LoadConfigError(f"{path}: {exc}") from None
    section = data.get("tool", {}).get("chatkit-harness", {}).get("load", {})
    if not isinstance(section, Mapping):
        raise LoadConfigError(f"{path}: [tool.chatkit-harness.load] is not a table")
    unknown = sorted(set(section) - _FILE_KEYS)
    if unknown:
        raise LoadConfigError(f"{path}: unknown load setting {unknown[0]!r}")
    return dict(section)


def load_settings(ns: argparse.Namespace, pyproject: Path | None = None) -> LoadSettings:
    """CLI values over ``[tool.chatkit-harness.load]`` over the defaults."""
    file = _from_pyproject(pyproject or Path.cwd() / "pyproject.toml")

    def pick(attr: str, key: str, default: Any) -> Any:
        value = getattr(ns, attr, None)
        return value if value is not None else file.get(key, default)

    try:
        users = int(pick("users", "users", 10))
        spawn_rate = float(pick("spawn_rate", "spawn-rate", 10.0))
        turns = int(pick("turns", "turns", 2))
        think = float(pick("think_time", "think-time", 0.5))
        settle = float(pick("settle", "settle", 5.0))
    except (TypeError, ValueError) as exc:
        raise LoadConfigError(f"a load setting is not a number: {exc}") from None
    run_time = parse_duration(str(pick("run_time", "run-time", "60s")))
    fail_on = ns.fail_on if ns.fail_on is not None else file.get("fail-on", [])
    if isinstance(fail_on, str):
        fail_on = [fail_on]
    if users < 1:
        raise LoadConfigError("--users must be at least 1")
    if spawn_rate <= 0:
        raise LoadConfigError("--spawn-rate must be positive")
    if turns < 0 or think < 0 or settle < 0:
        raise LoadConfigError("--turns, --think-time and --settle must be 0 or more")
    return LoadSettings(
        users=users,
        spawn_rate=spawn_rate,
        run_time=run_time,
        turns=turns,
        think_time=think,
        settle=settle,
        thresholds=tuple(parse_threshold(str(t)) for t in fail_on),
    )


def target_flags(ns: argparse.Namespace) -> dict[str, Any]:
    """The Target fields the user passed (for harness.target.config.load_target)."""
    flags = {
        field: getattr(ns, name.replace("-", "_"))
        for name, (field, _) in TARGET_FLAGS.items()
        if getattr(ns, name.replace("-", "_"), None) is not None
    }
    if ns.header:
        flags["headers"] = ns.header
    return flags
