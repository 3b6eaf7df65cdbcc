"""A user's ``pytest -W error`` run of the suite is not broken by the harness's own imports.

The SDK marks its named widget classes deprecated, and importing or validating its types
warns; the event checks validate against those types, so without care every check that
reads an event fails under ``-W error`` with the SDK's DeprecationWarning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WIDGET_EVENT = {
    "type": "thread.item.done",
    "item": {
        "id": "wdg_1",
        "thread_id": "thr_1",
        "created_at": "2025-01-01T00:00:00Z",
        "type": "widget",
        "widget": {"type": "Card", "children": [{"type": "Text", "value": "hi"}]},
    },
}


def test_event_validation_raises_no_warning() -> None:
    code = (
        "import json, sys\n"
        "from harness.protocol.events import event_problem\n"
        "print(event_problem(json.loads(sys.argv[1])))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, json.dumps(WIDGET_EVENT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None"


@pytest.mark.slow
def test_suite_under_w_error_is_clean(tmp_path: Path) -> None:
    """The documented pytest form, against the bundled server, with warnings as errors."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-W",
            "error",
            "--pyargs",
            "scenarios",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "--chatkit-select",
            "protocol.*",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "DeprecationWarning" not in out and "warnings summary" not in out
    assert "✓ chatkit deployment healthy (" in out
