"""``chatkit-harness`` end to end: catalogue, one-line errors, exit codes, report files.

The fast tests call ``main()`` in-process; the ones that run checks start the real CLI in a
subprocess against the bundled reference server, with a fault mode so a known check fails.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent


def cli(args: list[str], cwd: Path, script: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, *(script or ["-m", "harness.cli"]), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("chatkit-harness: error: ")
    return lines[0]


# -- catalogue -----------------------------------------------------------------------------


def test_list_text(capsys: pytest.CaptureFixture[str]) -> None:
    """`list` prints one line per check and the count."""
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "protocol.event-schema" in out and "MUST" in out
    assert out.splitlines()[-1].endswith(" checks")


def test_list_json_carries_catalogue_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """`list --format json` gives every check's level, pitfall, fix and ref."""
    assert main(["list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["pitfall"] and r["fix"] and r["ref"] and r["level"] for r in rows)


def test_list_selection(capsys: pytest.CaptureFixture[str]) -> None:
    """`list --select/--exclude` shows what a run with the same globs would run."""
    assert main(["list", "--select", "protocol.*", "--exclude", "protocol.list-*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ids = [line.split()[0] for line in lines[:-1]]
    assert ids and all(
        i.startswith("protocol.") and not i.startswith("protocol.list-") for i in ids
    )
    assert lines[-1] == f"{len(ids)} checks selected"


def test_run_list_selection(capsys: pytest.CaptureFixture[str]) -> None:
    """`run --list --select` lists instead of running."""
    assert main(["run", "--list", "--select", "history.*"]) == 0
    assert "history.recall" in capsys.readouterr().out


# -- one-line errors, exit 2 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--url", "ftp://example"], "is not an http(s) URL"),
        (["run", "--baseline", "missing.toml"], "'missing.toml' does not exist"),
        (["run", "--timeout", "soon"], "timeout must be a number"),
        (["run", "--json", "."], "is a directory"),
        (["run", "--artifacts", "a-file"], "'a-file' is not a folder"),
        (["diagnose", "--url", "nope"], "is not an http(s) URL"),
    ],
)
def test_bad_options_are_one_line(
    args: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad option stops the CLI before anything runs: exit 2, one line on stderr."""
    monkeypatch.chdir(tmp_path)
    Path("a-file").write_text("")
    assert main(args) == 2
    assert needle in one_error_line(capsys.readouterr().err)


def test_bad_baseline_entry_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A baseline naming no known check is refused before the run."""
    monkeypatch.chdir(tmp_path)
    Path("b.toml").write_text('[known-failures]\n"protocol.nope" = "x"\n')
    assert main(["run", "--baseline", "b.toml"]) == 2
    assert "'protocol.nope' names no known check" in one_error_line(capsys.readouterr().err)


def test_unknown_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse errors keep the same shape and exit code."""
    with pytest.raises(SystemExit) as exc:
        main(["run", "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in one_error_line(capsys.readouterr().err)


def test_model_stub_is_delegated(monkeypatch: pytest.MonkeyPatch) -> None:
    """`model-stub ...` hands its arguments to the stub's own CLI."""
    seen: list[list[str]] = []

    def fake(argv: list[str]) -> int:
        seen.append(list(argv))
        return 7

    monkeypatch.setattr("harness.glass.model_stub.cli.main", fake)
    assert main(["model-stub", "--port", "0"]) == 7
    assert seen == [["--port", "0"]]


def test_internal_error_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception is one line and exit 2, never a traceback."""

    def boom(*args: object, **kwargs: object) -> int:
        raise RuntimeError("kaboom\nsecond line")

    monkeypatch.setattr("harness.cli.cmd_list", boom)
    monkeypatch.delenv("CHATKIT_HARNESS_DEBUG", raising=False)
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: kaboom" in err


@pytest.mark.slow
def test_unreachable_target_exits_2(tmp_path: Path) -> None:
    """Nothing listening at the URL: exit 2 with one line naming the URL, no results."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/chatkit"
    proc = cli(["run", "--url", url, "--json", "r.json", "--junit", "r.xml"], tmp_path)
    assert proc.returncode == 2
    assert f"cannot connect to {url}" in one_error_line(proc.stderr)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["exit_code"] == 2 and doc["harness_error"]
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite/testcase/error") is not None


# -- real runs against the bundled reference server ----------------------------------------


def failed_ids_json(path: Path) -> set[str]:
    doc = json.loads(path.read_text())
    return {c["id"] for c in doc["checks"] if c["outcome"] == "fail"}


def failed_ids_junit(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    return {c.get("name", "") for c in root.iter("testcase") if c.find("failure") is not None}


@pytest.mark.slow
def test_invented_events_fail_event_schema_in_every_sink(tmp_path: Path) -> None:
    """--fault invented-events: protocol.event-schema fails in the terminal, JSON, JUnit,
    with a repro, and the artifacts hold the exchange it came from."""
    proc = cli(
        [
            "run",
            "--fault",
            "invented-events",
            "--select",
            "protocol.*",
            "--plain",
            "--json",
            "r.json",
            "--junit",
            "r.xml",
            "--artifacts",
            "art",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert (
        "✗ Every streamed event is a valid ChatKit ThreadStreamEvent  [protocol.event-schema]"
        in out
    )
    assert "    fix:     Yield only chatkit.types events" in out
    assert out.splitlines()[-1].startswith("✗ chatkit deployment unhealthy: 1 of ")
    assert failed_ids_json(tmp_path / "r.json") == {"protocol.event-schema"}
    assert failed_ids_junit(tmp_path / "r.xml") == {"protocol.event-schema"}
    check = json.loads((tmp_path / "art/checks/protocol.event-schema/result.json").read_text())
    assert check["repro"].startswith("curl -N -X POST http://127.0.0.1:")
    assert "Bearer ***" in check["repro"]
    assert check["exchanges"] and all((tmp_path / "art" / f).is_file() for f in check["exchanges"])
    exchange = json.loads((tmp_path / "art" / check["exchanges"][0]).read_text())
    assert exchange["request"]["type"] == "threads.create"
    assert "thread.message.delta" in {e["type"] for e in exchange["events"]}


@pytest.mark.slow
def test_no_history_fails_history_recall(tmp_path: Path) -> None:
    """--fault no-history: the rich terminal shows history.recall with its fix, the JSON and
    JUnit files name it as failed, and the exit code is 1."""
    proc = cli(
        [
            "run",
            "--fault",
            "no-history",
            "--select",
            "history.*",
            "--rich",
            "--json",
            "r.json",
            "--junit",
            "r.xml",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "✗ history.recall · MUST · failed" in out
    fix = json.loads((tmp_path / "r.json").read_text())
    recall = next(c for c in fix["checks"] if c["id"] == "history.recall")
    assert recall["fix"].split()[0] in out and "Fix" in out
    assert "history.recall" in failed_ids_json(tmp_path / "r.json")
    assert "history.recall" in failed_ids_junit(tmp_path / "r.xml")


@pytest.mark.slow
def test_baseline_greens_a_known_failure_and_fails_a_stale_entry(tmp_path: Path) -> None:
    """A baselined failure passes the run; an entry whose check passes fails it, one line."""
    (tmp_path / "b.toml").write_text(
        '[known-failures]\n"history.recall" = "TICKET-7"\n"history.persisted" = "old"\n'
    )
    proc = cli(
        [
            "run",
            "--fault",
            "no-history",
            "--select",
            "history.*",
            "--plain",
            "--baseline",
            "b.toml",
            "--json",
            "r.json",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "~ The agent remembers earlier turns of the conversation  (baselined)" in proc.stdout
    stale = [line for line in proc.stdout.splitlines() if "stale baseline entry '" in line]
    assert stale == [
        "✗ stale baseline entry 'history.persisted': the check passes now; "
        "remove it from the baseline file"
    ]
    assert proc.stdout.splitlines()[-1] == "✗ run failed: 1 stale baseline entry"
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["stale_baseline"] == ["history.persisted"]
    (tmp_path / "b.toml").write_text('[known-failures]\n"history.recall" = "TICKET-7"\n')
    again = cli(
        ["run", "--fault", "no-history", "--select", "history.*", "--baseline", "b.toml"],
        tmp_path,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1].startswith("✓ chatkit deployment healthy")


@pytest.mark.slow
def test_verify_script_keeps_the_plain_lines(tmp_path: Path) -> None:
    """scripts/verify.py prints '✓ title  [id]' lines and the healthy verdict."""
    proc = cli(
        ["--select", "protocol.framing"], tmp_path, script=[str(ROOT / "scripts" / "verify.py")]
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "✓ Streams are well-formed SSE: complete 'data:' events holding JSON objects"
        "  [protocol.framing]",
        "✓ chatkit deployment healthy (1 checks)",
    ]
