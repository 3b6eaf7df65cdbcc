"""The baseline file: strict parsing, and a writer whose output reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden.sample import sample_run

from harness.report.baseline import BaselineError, load_baseline, render_baseline


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_reads_ids_and_reasons(tmp_path: Path) -> None:
    """Each entry maps a check id to its reason."""
    path = write(tmp_path, '[known-failures]\n"history.recall" = "  TICKET-7  "\n')
    baseline = load_baseline(path, ["history.recall"])
    assert baseline.reason("history.recall") == "TICKET-7"
    assert "history.recall" in baseline and "sse.unbuffered" not in baseline


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[known-failures]\n"a.b" = ""\n', "needs a reason"),
        ('[known-failures]\n"a.b" = 3\n', "needs a reason"),
        ("[known-failures\n", "not valid TOML"),
        ("x = 1\n", "no [known-failures] table"),
        ('[known-failures]\n"a.b" = "r"\n[extra]\n', "unknown key 'extra'"),
        ('[known-failures]\n"a.typo" = "r"\n', "names no known check"),
    ],
)
def test_malformed_baselines_are_refused(tmp_path: Path, text: str, message: str) -> None:
    """A bad baseline is one clear error, not a silent pass."""
    with pytest.raises(BaselineError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_baseline(write(tmp_path, text), ["a.b"])


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is named in the error."""
    with pytest.raises(BaselineError, match="does not exist"):
        load_baseline(tmp_path / "nope.toml")


def test_rendered_baseline_reads_back(tmp_path: Path) -> None:
    """--write-baseline lists every failure and warning, keeps known reasons, and parses."""
    run = sample_run()
    run.results[1].message = 'quote " and \\ backslash\nsecond line'
    text = render_baseline(run.results)
    baseline = load_baseline(write(tmp_path, text))
    assert set(baseline.entries) == {"protocol.event-schema", "history.recall", "sse.no-cache"}
    assert (baseline.reason("history.recall") or "").startswith("TICKET-7")
    assert baseline.reason("protocol.event-schema") == 'TODO: quote " and \\ backslash'
