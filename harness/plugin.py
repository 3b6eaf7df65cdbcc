"""The pytest plugin: options, fixtures, selection, and the mapping of reports onto outcomes.

Thin by design: it knows how to turn ``--chatkit-*`` options into a :class:`Target`, how to
start the bundled reference server when no URL is given, and how to record one
:class:`CheckResult` per check. Everything else lives in the library modules.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from harness import __version__, heap
from harness.auth.issuer import IssuerKeyError, TestIssuer, issuer_for
from harness.engine import hints, preflight
from harness.engine.context import ProbeContext
from harness.engine.plan import Engine
from harness.glass.box import GlassBox, StubUnreachable
from harness.glass.mcp_box import McpBox, McpStubUnreachable, url_key_set
from harness.protocol.client import ChatKitClient, TargetUnreachable
from harness.registry import Level, matches, spec_of
from harness.report.results import (
    CheckFailure,
    CheckResult,
    Outcome,
    RunResult,
    parse_skip,
    take_notes,
)
from harness.target import pace
from harness.target.config import (
    BUNDLED_CONCURRENCY,
    DEPLOYMENT_CONCURRENCY,
    ConfigError,
    Target,
    load_target,
)
from harness.target.launch import Launched, LaunchError, start_reference_server
from harness.target.owned import OwnedTarget

COLLECTOR_NAME = "chatkit-results"
# Report files, artifacts, baseline and progress live in their own plugin module.
pytest_plugins = ["harness.report.sinks.plugin"]

# Option name -> Target field. One table, so the CLI and pytest cannot drift apart.
TARGET_OPTIONS: dict[str, tuple[str, str]] = {
    "url": ("url", "ChatKit endpoint URL (default: start the bundled reference server)"),
    "token": ("token", "bearer token of the main test user"),
    "token-command": ("token_command", "command that prints the bearer token"),
    "token-b": ("token_b", "bearer token of a second user (isolation checks)"),
    "cookie": ("cookie", "Cookie header value sent with every request"),
    "user-header": ("user_header", "plain identity header some deployments trust"),
    "origin-url": ("origin_url", "the same backend without the proxy, for edge-vs-origin"),
    "frontend-url": ("frontend_url", "page URL for the browser checks"),
    "script": (
        "chatkit_script",
        "standin, cdn or auto (auto: one HEAD request to OpenAI's CDN decides)",
    ),
    "frontend-cookie": (
        "frontend_cookie",
        "session cookie NAME=VALUE for the page (httpOnly; {token} is the test user's token)",
    ),
    # The page's session as apps keep it, and how its chat opens (docs/browser.md).
    "frontend-storage-state": (
        "frontend_storage_state",
        "Playwright storage-state file (cookies, localStorage) the page starts with",
    ),
    "frontend-local-storage": (
        "frontend_local_storage",
        "localStorage KEY=VALUE of the page's origin (repeatable; {token} is the token)",
    ),
    "frontend-login": (
        "frontend_login",
        "Python file with async login(page, user) that signs in through the app's form",
    ),
    "frontend-open": (
        "frontend_open",
        "CSS selector clicked before the chat is awaited (repeatable: clicks in order)",
    ),
    "context": ("context_mode", "how context is sent: body, headers or both"),
    "timeout": ("timeout", "seconds before one request is given up (default 30)"),
    "ttfb-threshold": ("ttfb_threshold", "warm time-to-first-event limit in s (default 2)"),
    "cold-start-threshold": ("cold_start_threshold", "cold start limit in s (default 3)"),
    "start": ("start_command", "command that starts the target (cold-start checks)"),
    "repeat": ("repeat", "repeat semantic probes N times, decided by majority"),
    "concurrency": (
        "concurrency",
        "probes in flight at once (default 8, the bundled server 16; 1 = one at a time)",
    ),
    "settle": ("settle", "seconds a read may wait for an earlier write to show (default 2)"),
    # The test issuer and per-user identities (docs/auth.md).
    "issuer-port": ("issuer_port", "serve the test issuer on 127.0.0.1:PORT (target trusts it)"),
    "issuer-iss": ("issuer_iss", "iss claim of test-issuer tokens"),
    "issuer-aud": ("issuer_aud", "aud claim of test-issuer tokens"),
    "issuer-kid": ("issuer_kid", "kid of the test issuer's key (default: its thumbprint)"),
    "jwks-path": ("jwks_path", "path of the test issuer's JWKS (default /.well-known/jwks.json)"),
    "issuer-claims": ("issuer_claims", "extra claims as a JSON object; '{sub}' is the user"),
    "issuer-key": ("issuer_key", "PEM file keeping the test issuer's key across runs"),
    "user-headers-a": ("user_headers_a", "headers identifying user A, 'Name: value; ...'"),
    "user-headers-b": ("user_headers_b", "headers identifying user B, 'Name: value; ...'"),
    "deployment-jwks": ("deployment_jwks", "the deployment's own JWKS URL (alg-confusion probe)"),
    # Glass-box mode: a model stub records what the target sends its model.
    "model-stub": (
        "model_stub",
        "run the model stub and start the target on it (bundled server or --start)",
    ),
    "model-stub-url": (
        "model_stub_url",
        "read the model stub you run for your deployment (chatkit-harness model-stub)",
    ),
    "inference-options": (
        "inference_options",
        'JSON sent as inference_options of every user message, e.g. \'{"model": "gpt-4.1"}\'',
    ),
    "trigger": (
        "triggers",
        "FEATURE=PROMPT: a message that makes the deployment show a feature (repeatable; "
        "widgets, client-tools, structured-input, progress, client-effect, notice, closed-thread)",
    ),
    # MCP identity (docs/mcp.md): an MCP stub records what each tool call carries.
    "mcp-stub": (
        "mcp_stub",
        "run the MCP stub and start the target with MCP_SERVER_URL pointing at it",
    ),
    "mcp-stub-url": (
        "mcp_stub_url",
        "read the MCP stub you run for your deployment (chatkit-harness mcp-stub)",
    ),
}
# Options given once per value (--trigger widgets=... --trigger notice=...).
TARGET_LISTS = frozenset({"trigger"})
# Options that are switches: alone they mean "on"; they still take an optional value, so the
# CLI can pass them on as --chatkit-NAME true.
TARGET_SWITCHES = frozenset({"model-stub", "mcp-stub"})
# Options given once per item; their value is a list.
TARGET_REPEATABLE = frozenset({"frontend-local-storage", "frontend-open"})


def option_extra(name: str) -> dict[str, Any]:
    """Extra argparse settings of the target option ``name`` (shared with the CLI)."""
    if name in TARGET_LISTS:
        return {"action": "append", "metavar": "FEATURE=PROMPT"}
    if name in TARGET_REPEATABLE:
        return {"action": "append"}
    return {"nargs": "?", "const": "true", "metavar": "BOOL"} if name in TARGET_SWITCHES else {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatkit", "chatkit-harness")
    for name, (_, help_) in TARGET_OPTIONS.items():
        group.addoption(
            f"--chatkit-{name}",
            dest=f"chatkit_{name.replace('-', '_')}",
            help=help_,
            **option_extra(name),
        )
    group.addoption(
        "--chatkit-header",
        action="append",
        default=[],
        help="extra header 'Name: value' for every request (repeatable)",
    )
    group.addoption("--chatkit-select", action="append", default=[], help="check id glob")
    group.addoption("--chatkit-exclude", action="append", default=[], help="check id glob")
    group.addoption(
        "--chatkit-strict", action="store_true", help="SHOULD failures fail the run too"
    )
    group.addoption(
        "--chatkit-interface",
        choices=hints.INTERFACES,
        default=hints.PYTEST,
        help="how the run was started: option names in hints follow it (the CLI passes cli)",
    )
    group.addoption(
        "--chatkit-fault",
        action="append",
        default=[],
        help="start the bundled reference server with this fault mode (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chatkit_check(spec): a chatkit-harness check")
    hints.configure(config)
    if not config.pluginmanager.has_plugin(COLLECTOR_NAME):
        config.pluginmanager.register(ResultCollector(config), COLLECTOR_NAME)


def target_flags(config: pytest.Config) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    for name, (field_name, _) in TARGET_OPTIONS.items():
        value = config.getoption(f"chatkit_{name.replace('-', '_')}")
        if value is not None:
            flags[field_name] = value
    if config.getoption("chatkit_header"):
        flags["headers"] = config.getoption("chatkit_header")
    return flags


def pytest_report_header(config: pytest.Config) -> str | None:
    url = config.getoption("chatkit_url") or os.environ.get("CHATKIT_URL")
    where = url or "the bundled reference server (no --chatkit-url)"
    return f"chatkit-harness {__version__}: target {where}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    select = config.getoption("chatkit_select")
    exclude = config.getoption("chatkit_exclude")
    if not select and not exclude:
        return
    keep, drop = [], []
    for item in items:
        spec = spec_of(item)
        if spec is None or matches(spec.id, select, exclude):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    heap.imported()  # every check module is loaded: see harness.heap


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chatkit_issuer(request: pytest.FixtureRequest) -> Iterator[TestIssuer]:
    """The harness's test issuer, serving its JWKS on 127.0.0.1 for the whole session."""
    try:
        target = load_target(target_flags(request.config))
        issuer = issuer_for(target)
        issuer.start(target.issuer_port or 0)
    except (ConfigError, IssuerKeyError) as exc:
        raise TargetUnreachable(f"test issuer: {exc}") from None
    except OSError as exc:
        where = f"127.0.0.1:{target.issuer_port or 0}"
        reason = exc.strerror or type(exc).__name__
        raise TargetUnreachable(f"cannot serve the test issuer on {where}: {reason}") from None
    yield issuer
    issuer.stop()


GLASS_BOX_KEY = pytest.StashKey[GlassBox]()


def bundled_args(config: pytest.Config, issuer: TestIssuer) -> list[str]:
    """Arguments of the bundled reference server: trusts the test issuer, in-memory store."""
    args = ["--db", ":memory:", "--jwks-url", issuer.jwks_url]
    args += ["--issuer", issuer.issuer, "--audience", issuer.audience]
    for fault in config.getoption("chatkit_fault"):
        args += ["--fault", fault]
    if bundled_on_stub(config):
        args += ["--model", "openai"]  # the real openai-agents Responses path, on the stub
    else:
        args += pace.server_args()  # fast, but slower for the timed stream: harness.target.pace
    return args


def bundled_on_stub(config: pytest.Config) -> bool:
    """Glass-box mode: the bundled server's model is the model stub, which keeps the pace."""
    try:
        return load_target(target_flags(config)).glass_box
    except ConfigError:
        return False  # reported by chatkit_target


@pytest.fixture(scope="session")
def chatkit_model_stub(request: pytest.FixtureRequest) -> Iterator[GlassBox | None]:
    """The model stub in glass-box mode (--model-stub or --model-stub-url), else None."""
    try:
        target = load_target(target_flags(request.config))
    except ConfigError as exc:
        raise TargetUnreachable(f"bad configuration: {exc}") from None
    from harness.report.artifacts import keep_model_calls

    if target.model_stub_url:
        try:
            remote = GlassBox.connect(target.model_stub_url)
        except StubUnreachable as exc:
            raise TargetUnreachable(str(exc)) from None
        request.config.stash[GLASS_BOX_KEY] = remote
        since = remote.mark()
        yield remote
        keep_model_calls(request.config, remote, since)  # the send times, for the HTML report
        return
    if not target.model_stub:
        yield None
        return
    try:
        box = GlassBox.start()
    except (OSError, RuntimeError) as exc:
        raise TargetUnreachable(f"cannot start the model stub: {exc}") from None
    request.config.stash[GLASS_BOX_KEY] = box  # the collector asks it at the end of the run
    yield box
    keep_model_calls(request.config, box, 0)
    box.stop()


@pytest.fixture(scope="session")
def chatkit_mcp_stub(request: pytest.FixtureRequest) -> Iterator[McpBox | None]:
    """The MCP stub (--mcp-stub or --mcp-stub-url), else None."""
    try:
        target = load_target(target_flags(request.config))
    except ConfigError as exc:
        raise TargetUnreachable(f"bad configuration: {exc}") from None
    if target.mcp_stub_url:
        try:
            yield McpBox.connect(target.mcp_stub_url)
        except McpStubUnreachable as exc:
            raise TargetUnreachable(str(exc)) from None
        return
    if not target.mcp_stub:
        yield None
        return
    key_sets: list[Any] = []
    authorization_server = None
    if not target.url or target.issuer_port is not None:
        # The target trusts the test issuer: the stub verifies its tokens, and names it as
        # the authorization server where a user's token is exchanged for the stub's audience.
        issuer: TestIssuer = request.getfixturevalue("chatkit_issuer")
        key_sets.append(issuer.jwks())
        authorization_server = issuer.base_url
    if target.deployment_jwks:
        key_sets.append(url_key_set(target.deployment_jwks))
    try:
        box = McpBox.start(key_sets=key_sets, authorization_server=authorization_server)
    except (OSError, RuntimeError) as exc:
        raise TargetUnreachable(f"cannot start the MCP stub: {exc}") from None
    yield box
    box.stop()


def launch_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for a target the harness starts: the model stub's, in glass-box mode, and
    the MCP stub's URL with --mcp-stub."""
    box: GlassBox | None = request.getfixturevalue("chatkit_model_stub")
    mcp: McpBox | None = request.getfixturevalue("chatkit_mcp_stub")
    return {**(box.env() if box is not None else {}), **(mcp.env() if mcp is not None else {})}


@pytest.fixture(scope="session")
def chatkit_started(request: pytest.FixtureRequest) -> Iterator[OwnedTarget | None]:
    """The user's target, started with --start and owned by the harness for the whole run.

    Owning it is what makes a true cold start measurable (the cold-start check restarts it),
    and in glass-box mode it is how the process gets the model stub's OPENAI_BASE_URL.
    """
    try:
        target = load_target(target_flags(request.config))
    except ConfigError as exc:
        raise TargetUnreachable(f"bad configuration: {exc}") from None
    if not (target.url and target.start_command):
        yield None
        return
    owned = OwnedTarget(target.start_command, target.url, launch_env(request))
    try:
        owned.start()
    except LaunchError as exc:
        raise TargetUnreachable(str(exc)) from None
    yield owned
    owned.stop()
    artifacts = request.config.getoption("chatkit_artifacts", None)
    if artifacts:
        owned.write_log(Path(artifacts))


@pytest.fixture(scope="session")
def chatkit_bundled(request: pytest.FixtureRequest) -> Iterator[Launched | None]:
    """The bundled reference server, started only when no target URL was given."""
    config = request.config
    try:
        target = load_target(target_flags(config))
    except ConfigError as exc:
        raise TargetUnreachable(f"bad configuration: {exc}") from None
    if target.url:
        yield None
        return
    issuer: TestIssuer = request.getfixturevalue("chatkit_issuer")
    args = bundled_args(config, issuer)
    env = launch_env(request)
    try:
        launched = start_reference_server(args, env=env)
    except LaunchError as exc:
        raise TargetUnreachable(str(exc)) from None
    yield launched
    # Its store is in memory and the run is over: nothing to flush, so no graceful shutdown
    # (uvicorn's takes a fifth of a second, paid by every run).
    launched.stop(graceful=False)


@pytest.fixture(scope="session")
def chatkit_target(request: pytest.FixtureRequest, chatkit_bundled: Launched | None) -> Target:
    """The resolved target; trusts the test issuer's tokens when it is the bundled server."""
    try:
        target = load_target(target_flags(request.config))
    except ConfigError as exc:
        raise TargetUnreachable(f"bad configuration: {exc}") from None
    if chatkit_bundled is not None:
        issuer: TestIssuer = request.getfixturevalue("chatkit_issuer")
        from dataclasses import replace

        target = replace(
            target,
            url=chatkit_bundled.url,
            token=issuer.mint("alice"),
            token_b=issuer.mint("bob"),
            bundled=True,
        )
    else:
        request.getfixturevalue("chatkit_started")  # with --start: start it first
        _preflight(target.url)
        if target.issuer_port is not None:
            # The user says the deployment trusts the test issuer: its users are A and B.
            from dataclasses import replace

            issuer = request.getfixturevalue("chatkit_issuer")
            minted_a = None if target.token_command else issuer.mint("alice")
            target = replace(
                target,
                token=target.token or minted_a,
                token_b=target.token_b or issuer.mint("bob"),
            )
    return target


def _preflight(url: str) -> None:
    """Fail fast, with one line, when nothing listens at the target."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        raise TargetUnreachable(
            f"cannot connect to {url}: {exc.strerror or type(exc).__name__}"
        ) from None


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chatkit_client(
    chatkit_target: Target, request: pytest.FixtureRequest
) -> AsyncIterator[ChatKitClient]:
    """A client acting as the main test user; every exchange goes to the run's recorder."""
    from harness.report.artifacts import exchange_observers

    observers = exchange_observers(request.config)
    async with ChatKitClient(chatkit_target, on_exchange=observers) as client:
        yield client


# -- the record phase ----------------------------------------------------------------------


def planned_probes(session: pytest.Session) -> set[str]:
    """Every probe the selected checks declared."""
    names: set[str] = set()
    for item in session.items:
        spec = spec_of(item)
        if spec is not None:
            names.update(spec.probes)
    return names


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chatkit_engine(
    request: pytest.FixtureRequest, chatkit_target: Target, chatkit_client: ChatKitClient
) -> AsyncIterator[Engine]:
    """The record phase: the preflight, then every planned probe started at once."""
    trusted = chatkit_target.bundled or chatkit_target.issuer_port is not None
    issuer: TestIssuer | None = request.getfixturevalue("chatkit_issuer") if trusted else None
    ctx = ProbeContext(
        target=chatkit_target,
        observers=list(chatkit_client.on_exchange),
        issuer=issuer,
        glass=request.getfixturevalue("chatkit_model_stub"),
        mcp=request.getfixturevalue("chatkit_mcp_stub"),
        owned=request.getfixturevalue("chatkit_started"),
    )
    ctx.extras["config"] = request.config
    ctx.extras["issuer_getter"] = lambda: request.getfixturevalue("chatkit_issuer")
    ctx._main = chatkit_client
    b = chatkit_target.identity("b")
    if b is not None and issuer is not None and not chatkit_target.bundled:
        from harness.auth.probing import signed_by

        if signed_by(b.token, issuer):
            # B is the test issuer's user: whether the deployment trusts the issuer is a
            # precondition the auth checks judge (blocked), not a reason to stop the run.
            b = None
    concurrency = chatkit_target.concurrency or (
        BUNDLED_CONCURRENCY if chatkit_target.bundled else DEPLOYMENT_CONCURRENCY
    )
    engine = Engine(ctx, concurrency=concurrency)
    planned = {"first-turn", *planned_probes(request.session)}
    launched: Launched | None = request.getfixturevalue("chatkit_bundled")
    if launched is not None and not bundled_on_stub(request.config):
        ctx.pace_url = pace.pace_url(launched.url)
    if launched is not None and "cold-start" in planned:
        # The bundled server has not seen a request yet: its cold start is timed now, alone,
        # before the preflight's first read could warm it.
        ctx.fresh = launched
        await engine.get("cold-start")
    try:
        await preflight.check_list(chatkit_client, chatkit_target, issuer, b)
    except TargetUnreachable:
        _owned_alive(ctx)  # a backend that died explains the unreachable target better
        raise
    engine.start(planned)
    try:
        yield engine
    finally:
        collector = request.config.pluginmanager.get_plugin(COLLECTOR_NAME)
        if collector is not None:
            collector.run.probes = engine.timings()
        await engine.close()
        await ctx.aclose()


class Evidence:
    """What the probes of one check recorded, by probe name."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            raise KeyError(f"probe {name!r} is not declared in this check's @check(probes=...)")
        return self._values[name]


@pytest_asyncio.fixture(loop_scope="session")
async def evidence(request: pytest.FixtureRequest, chatkit_engine: Engine) -> Evidence:
    """The evidence of the current check's declared probes; no check is judged before the
    preflight's threads.create has shown the credential is accepted."""
    ctx = chatkit_engine.ctx
    try:
        first = await chatkit_engine.get("first-turn")
        preflight.check_create(first, ctx.main, ctx.target, ctx.issuer)
        spec = spec_of(request.node)
        names = spec.probes if spec is not None else ()
        values = {name: await chatkit_engine.get(name) for name in names}
    except TargetUnreachable:
        _owned_alive(ctx)  # a backend that died explains the unreachable target better
        raise
    _owned_alive(ctx)
    return Evidence(values)


def _owned_alive(ctx: ProbeContext) -> None:
    """With --start: the started backend still runs, else exit 2 with its last lines."""
    if ctx.owned is None:
        return
    try:
        ctx.owned.check_alive()
    except LaunchError as exc:
        raise TargetUnreachable(str(exc)) from None


# -- outcomes ------------------------------------------------------------------------------

HARNESS_ERRORS = (TargetUnreachable, LaunchError, ConfigError)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    spec = spec_of(item)
    if spec is None:
        return report
    report.user_properties.append(("chatkit_id", spec.id))
    notes = take_notes()  # a pass's condition (results.note), said during the call
    if notes and report.when == "call":
        report.user_properties.append(("chatkit_note", "; ".join(notes)))
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, HARNESS_ERRORS):
        report.user_properties.append(("chatkit_harness_error", str(exc)))
        item.session.shouldstop = str(exc)
    elif isinstance(exc, AssertionError) and report.when in ("setup", "call") and report.failed:
        # A shared probe (a session fixture) that finds the target broken fails every check
        # built on it: that is a verdict on the target, not a harness error.
        report.user_properties.append(("chatkit_failure", json.dumps(_failure_fields(exc))))
        if report.when == "setup":
            pass  # pytest must see the setup fail, or it would run the check without its probe
        elif spec.level is Level.SHOULD and not item.config.getoption("chatkit_strict"):
            # A broken SHOULD warns: visible everywhere, but pytest's exit status stays green.
            report.outcome = "passed"
            report.user_properties.append(("chatkit_outcome", Outcome.WARN.value))
            report.sections.append(("chatkit warning", str(exc)))
    elif exc is not None and report.when == "call" and report.failed:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        report.user_properties.append(("chatkit_error", message))
    return report


def _failure_fields(exc: AssertionError) -> dict[str, str]:
    if isinstance(exc, CheckFailure):
        return {
            "message": exc.message,
            "expected": exc.expected,
            "actual": exc.actual,
            "evidence": exc.evidence,
            "repro": exc.repro,
            "fix": exc.fix,
        }
    # A plain assert: pytest's rewritten message is the best account we have.
    return {"message": str(exc).strip()[:2000]}


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    # Collection reports (an import error in a scenario) have no user_properties.
    if ("chatkit_outcome", Outcome.WARN.value) in getattr(report, "user_properties", ()):
        return "warned", "W", "WARN"
    return None


class ResultCollector:
    """Turns test reports into :class:`CheckResult` objects for the sinks."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run = RunResult(
            target=str(config.getoption("chatkit_url") or "bundled reference server"),
            harness_version=__version__,
            strict=bool(config.getoption("chatkit_strict")),
        )
        self._started = time.monotonic()
        self._durations: dict[str, float] = {}
        self.listeners: list[Any] = []  # objects with on_result(CheckResult)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        check_id = props.get("chatkit_id")
        if check_id is None:
            return
        self._durations[report.nodeid] = self._durations.get(report.nodeid, 0.0) + report.duration
        if "chatkit_harness_error" in props:
            # Not a verdict on the target: the run as a whole could not happen (exit 2).
            self.run.harness_error = self.run.harness_error or str(props["chatkit_harness_error"])
            return
        outcome = self._outcome(report, props)
        if outcome is None:
            return
        from harness.registry import load_catalogue

        spec = load_catalogue()[str(check_id)]
        result = CheckResult.from_spec(spec, outcome, self._durations.pop(report.nodeid, 0.0))
        self._fill(result, report, props)
        self.run.results.append(result)
        for listener in self.listeners:
            listener.on_result(result)

    @staticmethod
    def _outcome(report: pytest.TestReport, props: dict[str, Any]) -> Outcome | None:
        if report.when == "setup":
            if report.skipped:
                return Outcome.SKIP
            if report.failed and "chatkit_failure" in props:
                return Outcome.FAIL
            return Outcome.ERROR if report.failed else None
        if report.when != "call":
            return None
        if props.get("chatkit_outcome") == Outcome.WARN.value:
            return Outcome.WARN
        if report.passed:
            return Outcome.PASS
        if report.skipped:
            return Outcome.SKIP
        return Outcome.FAIL if "chatkit_failure" in props else Outcome.ERROR

    @staticmethod
    def _fill(result: CheckResult, report: pytest.TestReport, props: dict[str, Any]) -> None:
        if result.outcome is Outcome.SKIP:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            result.outcome, result.message, result.blocked_by = parse_skip(str(reason))
        elif "chatkit_failure" in props:
            fields = json.loads(props["chatkit_failure"])
            result.message = fields.get("message", "")
            result.expected = fields.get("expected", "")
            result.actual = fields.get("actual", "")
            result.evidence = fields.get("evidence", "")
            result.repro = fields.get("repro", "")
            result.fix = fields.get("fix") or result.fix
        elif "chatkit_harness_error" in props:
            result.message = str(props["chatkit_harness_error"])
        elif "chatkit_error" in props:
            result.message = str(props["chatkit_error"])
        elif result.outcome is Outcome.PASS and "chatkit_note" in props:
            result.message = str(props["chatkit_note"])
        elif result.outcome is Outcome.ERROR:
            crash = getattr(report.longrepr, "reprcrash", None)
            result.message = str(getattr(crash, "message", "") or report.longreprtext)[:500]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.duration = time.monotonic() - self._started
        # A run that judged nothing is not healthy: the gate is set up wrong (exit 2).
        box = self.config.stash.get(GLASS_BOX_KEY, None)
        if box is not None and not self.run.harness_error:
            self.run.harness_error = box.idle_problem(self.run.results)
        self.run.harness_error = self.run.harness_error or self.run.nothing_ran()
