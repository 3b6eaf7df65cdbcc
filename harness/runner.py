"""Run the scenarios through pytest and hand back one :class:`RunResult`.

The engine is pytest (no second runner): the CLI and verify.py call ``pytest.main`` on the
``scenarios`` package with the harness plugin, silence pytest's own terminal output, and
render the collected results themselves.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.report.results import RunResult


def pytest_args(
    options: Mapping[str, Any],
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    strict: bool = False,
    faults: Sequence[str] = (),
    headers: Sequence[str] = (),
) -> list[str]:
    args = [
        "--pyargs",
        "scenarios",
        # Our own settings only: the user's pytest.ini/addopts must not change a CI gate.
        "-c",
        os.devnull,
        "--rootdir",
        os.getcwd(),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-q",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        # Hints name options as this interface spells them (--token-b, not --chatkit-token-b).
        "--chatkit-interface",
        "cli",
    ]
    for name, value in options.items():
        if isinstance(value, list):  # a repeatable option (--trigger)
            for one in value:
                args += [f"--chatkit-{name}", str(one)]
        elif value is not None:
            args += [f"--chatkit-{name}", str(value)]
    for h in headers:
        args += ["--chatkit-header", h]
    for pat in select:
        args += ["--chatkit-select", pat]
    for pat in exclude:
        args += ["--chatkit-exclude", pat]
    for fault in faults:
        args += ["--chatkit-fault", fault]
    if strict:
        args.append("--chatkit-strict")
    return args


def run_suite(args: list[str], listeners: Iterable[Any] = (), *, quiet: bool = True) -> RunResult:
    """Run pytest with ``args``; ``listeners`` get ``on_result(CheckResult)`` as checks finish."""
    import pytest

    from harness.plugin import COLLECTOR_NAME

    holder: dict[str, Any] = {}

    class Grab:
        @pytest.hookimpl(trylast=True)
        def pytest_configure(self, config: pytest.Config) -> None:
            collector = config.pluginmanager.get_plugin(COLLECTOR_NAME)
            if collector is not None:
                collector.listeners.extend(listeners)
                holder["collector"] = collector

    sink = io.StringIO()
    redirect = contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext()
    with redirect:
        code = pytest.main(args, plugins=[Grab()])
    collector = holder.get("collector")
    if collector is None:
        failed = RunResult(target="", harness_version="")
        failed.harness_error = _first_error_line(sink.getvalue()) or f"pytest exited with {code}"
        return failed
    run: RunResult = collector.run
    if not run.results and not run.harness_error:
        if int(code) == 5:
            run.harness_error = "no checks were selected (check --select / --exclude)"
        elif int(code) not in (0, 1):
            run.harness_error = _first_error_line(sink.getvalue()) or f"pytest exited with {code}"
    return run


def _first_error_line(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(("ERROR", "E ")) or "error:" in s.lower():
            return s.removeprefix("E ").strip()
    return ""
