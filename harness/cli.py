"""``chatkit-harness``: a thin CLI over the pytest engine.

Exit codes: 0 every MUST check passed; 1 a check failed; 2 the harness could not run
(unreachable target, bad option, no browser), always with one clear line and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from harness import __version__

EXIT_OK, EXIT_FAILED, EXIT_HARNESS = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's own contract)
        self.exit(EXIT_HARNESS, f"chatkit-harness: error: {message}\n")


def _add_target_options(p: argparse.ArgumentParser) -> None:
    from harness.plugin import TARGET_OPTIONS

    g = p.add_argument_group("target")
    for name, (_, help_) in TARGET_OPTIONS.items():
        g.add_argument(f"--{name}", dest=name.replace("-", "_"), help=help_)
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
    s.add_argument("--list", action="store_true", help="list the checks and exit")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chatkit-harness", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--version", action="version", version=f"chatkit-harness {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="run the checks against a target")
    _add_target_options(run)
    lst = sub.add_parser("list", help="print the check catalogue")
    lst.add_argument("--format", choices=["text", "md", "json"], default="text")
    sub.add_parser("model-stub", help="serve the OpenAI-compatible model stub", add_help=False)
    return parser


def _target_options(ns: argparse.Namespace) -> dict[str, Any]:
    from harness.plugin import TARGET_OPTIONS

    return {name: getattr(ns, name.replace("-", "_")) for name in TARGET_OPTIONS}


def cmd_list(fmt: str) -> int:
    from harness.catalogue import render_catalogue

    sys.stdout.write(render_catalogue(fmt))
    return EXIT_OK


def cmd_run(ns: argparse.Namespace) -> int:
    if ns.list:
        return cmd_list("text")
    from harness.runner import pytest_args, run_suite
    from harness.sinks.lines import LinePrinter
    from harness.target import ConfigError, load_target

    options = _target_options(ns)
    try:
        # Validate now, so a bad option is one line before anything starts.
        target = load_target({k.replace("-", "_"): v for k, v in options.items() if v})
        secrets = target.secrets()
    except ConfigError as exc:
        print(f"chatkit-harness: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    args = pytest_args(
        options,
        select=ns.select,
        exclude=ns.exclude,
        strict=ns.strict,
        faults=ns.fault,
        headers=ns.header,
    )
    printer = LinePrinter(secrets=secrets)
    run = run_suite(args, [printer])
    printer.verdict(run)
    if run.harness_error:
        print(f"chatkit-harness: error: {run.harness_error}", file=sys.stderr)
    return run.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["model-stub"]:
        from harness.model_stub.cli import main as stub_main

        return stub_main(argv[1:])
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        if ns.command == "run":
            return cmd_run(ns)
        if ns.command == "list":
            return cmd_list(ns.format)
        parser.print_help()
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("chatkit-harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
