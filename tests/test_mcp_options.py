"""--mcp-stub and --mcp-stub-url: refused when they cannot work, and without them the mcp.*
checks are not tested and say which option enables them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mcp-stub", "--url", "http://127.0.0.1:9/chatkit"], "--mcp-stub-url"),
        (["--mcp-stub"], "needs --model-stub too"),
        (["--mcp-stub", "--model-stub", "--mcp-stub-url", "http://127.0.0.1:9/mcp"], "not both"),
        (["--mcp-stub-url", "ftp://x"], "is not an http(s) URL"),
        (["--mcp-stub", "maybe"], "mcp-stub must be true or false"),
    ],
)
def test_bad_mcp_options_are_one_line(
    args: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err


def test_without_the_stub_the_checks_name_the_option(tmp_path: Path) -> None:
    # One check that runs beside them, so the run judged something and exits 0.
    select = ["--select=mcp.*", "--select=protocol.create-order"]
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--plain", *select, "--json=r.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = json.loads((tmp_path / "r.json").read_text())["checks"]
    mcp = [c for c in checks if c["id"].startswith("mcp.")]
    assert {c["id"] for c in mcp} == {
        "mcp.identity-reaches-tools",
        "mcp.identity-via-transport",
        "mcp.no-cross-user",
        "mcp.token-audience",
        "mcp.tool-error-clean",
    }
    for c in mcp:
        assert c["outcome"] == "skip-untestable", c
        assert "--mcp-stub" in c["message"] and "--mcp-stub-url" in c["message"], c
