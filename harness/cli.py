"""``chatkit-harness``: a thin CLI over the pytest engine.

Exit codes: 0 every MUST check passed (SHOULD warnings allowed unless --strict); 1 a check
failed or the baseline is stale; 2 the harness could not run (unreachable target, bad option,
bad baseline, no browser), always with one clear line on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from harness import __version__, heap
from harness.exits import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, internal_error

DIAGNOSE_ARTIFACTS = "chatkit-diagnose"
HTML_NAME = "report.html"  # what diagnose writes into its artifacts folder


class UsageProblem(Exception):
    """A bad option or file found before anything started; one line for the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's own contract)
        self.exit(EXIT_HARNESS, f"chatkit-harness: error: {message}\n")


def _add_target_options(p: argparse.ArgumentParser) -> None:
    from harness.plugin import TARGET_OPTIONS, option_extra

    g = p.add_argument_group("target")
    for name, (_, help_) in TARGET_OPTIONS.items():
        g.add_argument(f"--{name}", dest=name.replace("-", "_"), help=help_, **option_extra(name))
    g.add_argument("-H", "--header", action="append", default=[], help="extra header 'Name: value'")
    s = p.add_argument_group("selection")
    s.add_argument("--select", action="append", default=[], help="check id glob, e.g. 'sse.*'")
    s.add_argument("--exclude", action="append", default=[], help="check id glob to leave out")
    s.add_argument("--strict", action="store_true", help="SHOULD failures fail the run")
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        help="run the bundled reference server with this fault mode (demo, repeatable)",
    )
    s.add_argument("--list", action="store_true", help="list the selected checks and exit")


def _add_report_options(p: argparse.ArgumentParser, *, artifacts_default: str | None) -> None:
    o = p.add_argument_group("reports")
    o.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    o.add_argument("--junit", metavar="PATH", help="write a JUnit XML report to PATH")
    o.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML report (stream timelines, probes) to FILE"
        + (f" (default {artifacts_default}/{HTML_NAME})" if artifacts_default else ""),
    )
    o.add_argument(
        "--artifacts",
        metavar="DIR",
        default=artifacts_default,
        help="keep every exchange (raw bytes, arrival times, headers) and browser traces in DIR"
        + (f" (default {artifacts_default})" if artifacts_default else ""),
    )
    o.add_argument(
        "--baseline",
        metavar="FILE",
        help="TOML file of known failures; they do not fail the run, stale entries do",
    )
    o.add_argument(
        "--write-baseline", metavar="FILE", help="write this run's failures as a baseline to FILE"
    )
    m = o.add_mutually_exclusive_group()
    m.add_argument(
        "--plain",
        action="store_true",
        help="one line per check as it finishes (the default when stdout is not a terminal)",
    )
    m.add_argument("--rich", action="store_true", help="the rich report even off a terminal")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chatkit-harness", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--version", action="version", version=f"chatkit-harness {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="run the checks against a target")
    _add_target_options(run)
    _add_report_options(run, artifacts_default=None)
    diag = sub.add_parser(
        "diagnose",
        help="run everything with full artifacts and print a ranked diagnosis",
    )
    _add_target_options(diag)
    _add_report_options(diag, artifacts_default=DIAGNOSE_ARTIFACTS)
    lst = sub.add_parser("list", help="print the check catalogue")
    lst.add_argument("--format", choices=["text", "md", "json"], default="text")
    lst.add_argument("--select", action="append", default=[], help="check id glob")
    lst.add_argument("--exclude", action="append", default=[], help="check id glob")
    from harness.load.config import add_load_parser

    add_load_parser(sub)
    sub.add_parser("model-stub", help="serve the OpenAI-compatible model stub", add_help=False)
    sub.add_parser("mcp-stub", help="serve the MCP stub (docs/mcp.md)", add_help=False)
    return parser


def _target_options(ns: argparse.Namespace) -> dict[str, Any]:
    from harness.plugin import TARGET_OPTIONS

    return {name: getattr(ns, name.replace("-", "_")) for name in TARGET_OPTIONS}


# -- list ----------------------------------------------------------------------------------


def cmd_list(fmt: str, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> int:
    from harness.report.catalogue import render_catalogue

    if not select and not exclude:
        sys.stdout.write(render_catalogue(fmt))
        return EXIT_OK
    import json

    from harness.registry import load_catalogue, matches

    specs = [s for s in load_catalogue().values() if matches(s.id, list(select), list(exclude))]
    if fmt == "json":
        rows = [{"id": s.id, "level": s.level.value, "title": s.title} for s in specs]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        width = max((len(s.id) for s in specs), default=10)
        for s in specs:
            print(f"{s.id:<{width}}  {s.level.value:<6}  {s.title}")
        print(f"{len(specs)} checks selected")
    return EXIT_OK


# -- run / diagnose ------------------------------------------------------------------------


def _writable(path: str | None, what: str) -> None:
    """Refuse an output path that cannot be written, before a long run is spent on it."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageProblem(f"{what} path {path!r} is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise UsageProblem(f"cannot write {what} to {path!r}: folder is not writable")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageProblem(f"cannot create the folder of {what} {path!r}: {exc}") from None


def _validate(ns: argparse.Namespace) -> tuple[list[str], bool]:
    """Check every option before anything starts; return the secrets to redact, and whether
    the run is against the bundled reference server (no URL anywhere)."""
    from harness.plugin import TARGET_OPTIONS
    from harness.registry import load_catalogue
    from harness.report.baseline import BaselineError, load_baseline
    from harness.target.config import ConfigError, load_target

    # Option name -> Target field (--start is start_command, --context is context_mode).
    flags = {TARGET_OPTIONS[k][0]: v for k, v in _target_options(ns).items() if v}
    if ns.header:
        flags["headers"] = ns.header
    try:
        target = load_target(flags)
        if ns.baseline:
            load_baseline(ns.baseline, load_catalogue())
    except (ConfigError, BaselineError) as exc:
        raise UsageProblem(str(exc)) from None
    _writable(ns.json, "the JSON report")
    _writable(ns.junit, "the JUnit report")
    _writable(ns.html, "the HTML report")
    _writable(ns.write_baseline, "the baseline")
    if ns.artifacts:
        folder = Path(ns.artifacts)
        if folder.exists() and not folder.is_dir():
            raise UsageProblem(f"artifacts path {ns.artifacts!r} is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot create the artifacts folder {ns.artifacts!r}: {exc}"
            raise UsageProblem(problem) from None
        if not os.access(folder, os.W_OK):
            raise UsageProblem(f"cannot write to the artifacts folder {ns.artifacts!r}")
    return target.secrets(), not target.url


def _rich_wanted(ns: argparse.Namespace, out: TextIO) -> bool:
    if ns.rich:
        return True
    if ns.plain:
        return False
    return out.isatty() and os.environ.get("TERM", "") != "dumb"


def _terminal_file() -> TextIO:
    """Our own handle on the terminal: pytest redirects fd 1 while a check runs, and the live
    progress must keep drawing (and never land in a check's captured output)."""
    try:
        fd = os.dup(sys.stdout.fileno())
        return os.fdopen(fd, "w", encoding="utf-8", errors="replace", buffering=1)
    except (OSError, ValueError, AttributeError):
        return sys.stdout


def cmd_run(ns: argparse.Namespace, *, diagnosing: bool = False) -> int:
    if ns.list:
        return cmd_list("text", ns.select, ns.exclude)
    from harness.runner import pytest_args, run_suite
    from harness.target.launch import discard_prewarmed

    secrets, bundled = _validate(ns)
    if not bundled:
        discard_prewarmed()  # main() prewarmed the bundled server, but pyproject.toml has a URL
    args = pytest_args(
        _target_options(ns),
        select=ns.select,
        exclude=ns.exclude,
        strict=ns.strict,
        faults=ns.fault,
        headers=ns.header,
    )
    # hypothesis's pytest plugin imports all of hypothesis (2+ s) to print a summary line
    # nobody sees here; the checks do not use it.
    args += ["-p", "no:hypothesispytest"]
    if ns.artifacts:
        args += ["--chatkit-artifacts", str(ns.artifacts)]
    if ns.baseline:
        args += ["--chatkit-baseline", str(ns.baseline)]
    if diagnosing and not ns.html and ns.artifacts:
        ns.html = str(Path(ns.artifacts) / HTML_NAME)
    if ns.html:
        # Written by the plugin, which holds the exchange log the timelines are drawn from.
        args += ["--chatkit-html", str(ns.html)]

    rich = _rich_wanted(ns, sys.stdout)
    reporter: Any
    if rich:
        from rich.console import Console

        from harness.report.sinks.terminal import RichReporter

        console = Console(file=_terminal_file(), emoji=False, highlight=False)
        reporter = RichReporter(console, secrets)
    else:
        from harness.report.sinks.lines import LinePrinter

        reporter = LinePrinter(sys.stdout, secrets=secrets)
    try:
        run = run_suite(args, [reporter])
    finally:
        if rich:
            reporter.stop()
    secrets = list(reporter.secrets)  # now with the tokens the run minted or sent
    if rich:
        reporter.render(run)
        if reporter.console.file is not sys.stdout:
            reporter.console.file.close()  # our own handle on the terminal, flushed
    else:
        reporter.verdict(run)
    _write_reports(ns, run, secrets)
    if diagnosing:
        _print_diagnosis(ns, run, secrets)
    if run.harness_error:
        from harness.report.redact import redact_text

        print(f"chatkit-harness: error: {redact_text(run.harness_error, secrets)}", file=sys.stderr)
    return run.exit_code


def _write_reports(ns: argparse.Namespace, run: Any, secrets: list[str]) -> None:
    from harness.report.sinks import github
    from harness.report.sinks.json_sink import write_json, write_text
    from harness.report.sinks.junit import write_junit

    try:
        if ns.json:
            write_json(run, ns.json, secrets, artifacts=ns.artifacts)
        if ns.junit:
            write_junit(run, ns.junit, secrets)
        if ns.write_baseline and not run.harness_error:
            from harness.report.baseline import render_baseline
            from harness.report.redact import redact_text

            write_text(ns.write_baseline, redact_text(render_baseline(run.results), secrets))
    except OSError as exc:
        raise UsageProblem(f"cannot write a report: {exc}") from None
    github.emit(run, secrets, write=lambda line: print(line, flush=True))


def _print_diagnosis(ns: argparse.Namespace, run: Any, secrets: list[str]) -> None:
    from harness.report.diagnose import diagnose, render_diagnosis
    from harness.report.sinks.redacted import redact_run

    safe = redact_run(run, secrets)
    root = Path(ns.artifacts) if ns.artifacts else None
    print()
    sys.stdout.write(render_diagnosis(safe, diagnose(safe, root)))
    if root is not None and not run.harness_error:
        print(f"\nEverything the run saw is in {root}/ (results.json, exchanges/, checks/).")
    if ns.html and not run.harness_error:
        print(f"Open {ns.html} in a browser for the report with stream timelines.")


# -- entry point ---------------------------------------------------------------------------


def _bundled_run(argv: Sequence[str]) -> bool:
    """A run that will most likely start the bundled server: run/diagnose with no URL given
    on the command line, in CHATKIT_URL or in ./pyproject.toml (cmd_run discards the prewarmed
    process if the URL turns out to come from elsewhere)."""
    if argv[:1] not in (["run"], ["diagnose"]) or os.environ.get("CHATKIT_URL"):
        return False
    stops = {"-h", "--help", "--list", "--url"}
    if any(a in stops or a.startswith("--url=") for a in argv[1:]):
        return False
    from harness.target.config import ConfigError, pyproject_settings

    try:
        return not pyproject_settings().get("url")
    except ConfigError:
        return True  # cmd_run reports the broken file; prewarming costs nothing meanwhile


def main(argv: Sequence[str] | None = None) -> int:
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["model-stub"]:
        from harness.glass.model_stub.cli import main as stub_main

        return stub_main(argv[1:])
    if argv[:1] == ["mcp-stub"]:
        from harness.glass.mcp_stub.cli import main as mcp_stub_main

        return mcp_stub_main(argv[1:])
    if argv[:1] == ["load"]:
        # Before build_parser: the run options import the pytest plugin (and ssl), which must
        # not be loaded before Locust's monkey-patching.
        from harness.load.cli import main as load_main

        return load_main(argv[1:])
    if as_program and argv[:1] in (["run"], ["diagnose"]):
        # Until the plugin's pytest_collection_finish (harness.heap). Only as the program
        # itself: an in-process caller (a test) keeps its collector as it was.
        heap.importing()
    if _bundled_run(argv):
        # The bundled server's ~2 s of imports overlap ours, argparse's and pytest's.
        from harness.target.launch import prewarm_reference_server

        prewarm_reference_server()
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        if ns.command == "run":
            return cmd_run(ns)
        if ns.command == "diagnose":
            return cmd_run(ns, diagnosing=True)
        if ns.command == "list":
            return cmd_list(ns.format, ns.select, ns.exclude)
        parser.print_help()
        return EXIT_HARNESS
    except UsageProblem as exc:
        print(f"chatkit-harness: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("chatkit-harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`chatkit-harness run | head`): not an error worth a line.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stop the flush at exit failing
        return EXIT_FAILED
    except Exception as exc:
        return internal_error(exc)


if __name__ == "__main__":
    sys.exit(main())
