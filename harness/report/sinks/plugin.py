"""The reporting half of the pytest plugin: report files, artifacts, baseline, progress.

Loaded by ``harness.plugin`` (``pytest_plugins``), so ``pytest --pyargs scenarios
--chatkit-url ... --chatkit-junit out.xml`` writes the same files as ``chatkit-harness run``.
The CLI passes only ``--chatkit-artifacts`` and ``--chatkit-baseline`` through pytest and
writes the report files itself from the final :class:`RunResult`.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.registry import spec_of
from harness.report.artifacts import ARTIFACTS_KEY, ExchangeLog, prepare_root
from harness.report.baseline import BASELINABLE, Baseline, BaselineError, load_baseline
from harness.report.redact import curl_command, redact_text
from harness.report.results import CheckResult, Outcome, RunResult
from harness.report.sinks import github
from harness.report.sinks.json_sink import write_json
from harness.report.sinks.junit import write_junit
from harness.report.sinks.redacted import redact_result
from harness.report.sinks.text import verdict_lines

PLUGIN_NAME = "chatkit-reports"
BASELINED = "baselined"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatkit", "chatkit-harness")
    group.addoption("--chatkit-json", metavar="PATH", help="write the JSON report to PATH")
    group.addoption("--chatkit-junit", metavar="PATH", help="write a JUnit XML report to PATH")
    group.addoption(
        "--chatkit-html",
        metavar="PATH",
        help="write a self-contained HTML report (stream timelines, probes) to PATH",
    )
    group.addoption(
        "--chatkit-artifacts",
        metavar="DIR",
        help="keep every exchange (raw bytes, arrival times, headers) and browser traces in DIR",
    )
    group.addoption(
        "--chatkit-baseline",
        metavar="FILE",
        help="TOML file of known failures ([known-failures] id = reason); stale entries fail",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    artifacts = config.getoption("chatkit_artifacts", None)
    log = ExchangeLog(root=Path(artifacts) if artifacts else None)
    if log.root is not None:
        try:
            prepare_root(log.root)
        except OSError as exc:
            raise pytest.UsageError(f"cannot use artifacts folder {artifacts!r}: {exc}") from None
    config.stash[ARTIFACTS_KEY] = log
    baseline = None
    path = config.getoption("chatkit_baseline", None)
    if path:
        try:
            # Ids are checked against the catalogue once collection has imported every check.
            baseline = load_baseline(path)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(ReportPlugin(config, log, baseline), PLUGIN_NAME)


def known_secrets(config: pytest.Config) -> list[str]:
    """The configured credentials (tokens, cookies, secret headers) to redact."""
    from harness.plugin import target_flags
    from harness.target.config import ConfigError, load_target

    try:
        # A token from --token-command is learned from the first request that sends it.
        return load_target(target_flags(config)).secrets()
    except ConfigError:
        return []  # the target fixture reports the configuration error itself


class ReportPlugin:
    """Per-run state: the exchange log, the baseline, and the collector's first listener."""

    def __init__(self, config: pytest.Config, log: ExchangeLog, baseline: Baseline | None) -> None:
        self.config = config
        self.log = log
        self.baseline = baseline
        self._baselined: set[str] = set()
        self._attached = False

    # -- wiring into the collector ----------------------------------------------------------

    def _collector(self) -> Any:
        from harness.plugin import COLLECTOR_NAME

        return self.config.pluginmanager.get_plugin(COLLECTOR_NAME)

    def _listeners(self) -> list[Any]:
        collector = self._collector()
        return [] if collector is None else list(collector.listeners)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        collector = self._collector()
        if collector is not None and not self._attached:
            # First, so every other listener sees the baselined outcome and the derived repro.
            collector.listeners.insert(0, self)
            self._attached = True
        self.log.on_secret.append(self._share_secret)
        for secret in known_secrets(self.config):
            self.log.add_secret(secret)

    def _share_secret(self, secret: str) -> None:
        for listener in self._listeners():
            if listener is not self and hasattr(listener, "add_secret"):
                listener.add_secret(secret)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.baseline is not None:
            from harness.registry import load_catalogue

            unknown = sorted(set(self.baseline.entries) - set(load_catalogue()))
            if unknown:
                raise pytest.UsageError(f"baseline entry {unknown[0]!r} names no known check")
        total = sum(1 for item in session.items if spec_of(item) is not None)
        for listener in self._listeners():
            if hasattr(listener, "on_start"):
                listener.on_start(total)

    # -- which check is running (attribution of exchanges) -----------------------------------

    def _phase(self, item: pytest.Item, phase: str) -> Generator[None, Any, Any]:
        spec = spec_of(item)
        self.log.current = (spec.id if spec else "", phase)
        try:
            return (yield)
        finally:
            self.log.current = ("", "session")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, Any, Any]:
        spec = spec_of(item)
        if spec is not None:
            for listener in self._listeners():
                if hasattr(listener, "on_check_start"):
                    listener.on_check_start(spec.id, spec.title)
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, Any, Any]:
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, Any, Any]:
        return (yield from self._phase(item, "teardown"))

    # -- baseline ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        spec = spec_of(item)
        if self.baseline is None or spec is None or report.when != "call":
            return report
        reason = self.baseline.reason(spec.id)
        props = dict(report.user_properties)
        warned = props.get("chatkit_outcome") == Outcome.WARN.value
        failed = report.failed and "chatkit_failure" in props
        if reason is not None and (failed or warned):
            report.outcome = "passed"
            report.user_properties.append(("chatkit_outcome", BASELINED))
            report.sections.append(("chatkit known failure", reason))
            self._baselined.add(spec.id)
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        # Collection reports have no user_properties.
        if ("chatkit_outcome", BASELINED) in getattr(report, "user_properties", ()):
            return BASELINED, "b", "BASELINED"
        return None

    # -- the collector's first listener -----------------------------------------------------

    def on_result(self, result: CheckResult) -> None:
        run: RunResult = self._collector().run
        if result.id in self._baselined and self.baseline is not None:
            result.outcome = Outcome.BASELINED
            result.baseline_reason = self.baseline.reason(result.id) or ""
        elif (
            self.baseline is not None
            and result.id in self.baseline
            and result.outcome is Outcome.PASS
            and result.id not in run.stale_baseline
        ):
            run.stale_baseline.append(result.id)
        cited = self.log.find_cited(result.evidence)
        if cited is not None and not result.repro and result.outcome in _REPRO_WORTHY:
            result.repro = curl_command(cited.exchange)
        if self.log.root is not None:
            self.log.write_result(redact_result(result, self.log.secrets), cited)

    # -- the end of the run -----------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # A partial run proves nothing either way: say so (exit 2), never "healthy".
        collector = self._collector()
        if collector is not None and not collector.run.harness_error:
            collector.run.harness_error = "interrupted before every check had run"

    @pytest.hookimpl(trylast=True)  # after the collector has closed the run
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        collector = self._collector()
        if collector is None:
            return
        run: RunResult = collector.run
        if run.stale_baseline and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if run.harness_error and session.exitstatus == 0:
            # Nothing judged the target (every check skipped, or the model stub never called):
            # like pytest's own "no tests collected", never a green session.
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        secrets = sorted(self.log.secrets)
        artifacts = str(self.log.root) if self.log.root is not None else None
        try:
            if self.config.getoption("chatkit_json"):
                write_json(run, self.config.getoption("chatkit_json"), secrets, artifacts=artifacts)
            if self.config.getoption("chatkit_junit"):
                write_junit(run, self.config.getoption("chatkit_junit"), secrets)
            if self.log.root is not None:
                write_json(run, self.log.root / "results.json", secrets, artifacts=artifacts)
            if self.config.getoption("chatkit_html", None):
                self._write_html(run, self.config.getoption("chatkit_html"), secrets)
        except OSError as exc:
            raise pytest.UsageError(f"cannot write a report: {exc}") from None

    def _write_html(self, run: RunResult, path: str, secrets: list[str]) -> None:
        from harness.plugin import target_flags
        from harness.report.html import write_html
        from harness.target.config import ConfigError, load_target

        try:
            origin = load_target(target_flags(self.config)).origin_url
        except ConfigError:
            origin = None
        write_html(run, path, self.log, secrets, origin_url=origin)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        collector = self._collector()
        if collector is None or not collector.run.results:
            return
        run: RunResult = collector.run
        github.emit(run, sorted(self.log.secrets), write=terminalreporter.write_line)
        terminalreporter.section("chatkit-harness")
        if run.harness_error:
            error = redact_text(run.harness_error, sorted(self.log.secrets))
            line = f"✗ chatkit-harness could not judge the target: {error}"
            terminalreporter.line(line, red=True)
        for r in run.results:
            if r.outcome is Outcome.BASELINED:
                terminalreporter.line(f"~ {r.id}: known failure ({r.baseline_reason})")
        for line in verdict_lines(run):
            terminalreporter.line(line, red=line.startswith("✗"), green=line.startswith("✓"))


_REPRO_WORTHY = BASELINABLE | {Outcome.ERROR, Outcome.BASELINED}
