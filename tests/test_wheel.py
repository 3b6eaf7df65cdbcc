"""The built wheel is the whole harness: installed in a fresh venv, it runs from anywhere.

``python -m build`` makes the sdist and the wheel (as CI does); the wheel goes into a new
virtual environment and ``chatkit-harness run`` is run from a folder outside the repository
against the bundled reference server. Nothing may come from the source tree: the checks, the
reference server, the browser stand-in script and the pytest plugin entry point must all be
in the wheel. To stay offline and quick the venv gets the wheel with ``--no-deps`` and sees
this environment's installed dependencies through a ``.pth`` line (a plain path: the
editable install's own finder there is not loaded).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], ROOT)
    return out


def test_wheel_and_sdist_hold_the_whole_harness(dist: Path) -> None:
    [wheel] = dist.glob("chatkit_harness-*.whl")
    assert list(dist.glob("chatkit_harness-*.tar.gz"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "harness/browser/static/chatkit-standin.js",
        "harness/report/html/templates/report.html.j2",
        "harness/report/html/templates/report.css",
        "harness/report/html/templates/report.js",
        "harness/py.typed",
        "harness/plugin.py",
        "scenarios/conftest.py",
        "scenarios/test_protocol.py",
        "reference_server/cli.py",
        "reference_server/py.typed",
    ):
        assert needed in names, needed
    [meta] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    entry_points = zipfile.ZipFile(wheel).read(meta).decode()
    assert "[pytest11]\nchatkit = harness.plugin" in entry_points
    assert "chatkit-harness = harness.cli:main" in entry_points


def test_wheel_runs_in_a_fresh_venv_outside_the_repo(dist: Path, tmp_path: Path) -> None:
    [wheel] = dist.glob("chatkit_harness-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    run([*pip, "install", "--no-deps", "--no-index", str(wheel)], tmp_path)
    site = Path(
        run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"], tmp_path
        ).stdout.strip()
    )
    (site / "outer-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(
        [
            str(python),
            "-c",
            "import harness, scenarios, reference_server, harness.browser.standin as s; "
            "print(harness.__file__); print(scenarios.__file__); "
            "print(reference_server.__file__); print(len(s.standin_source()))",
        ],
        elsewhere,
    ).stdout.splitlines()
    assert all(line.startswith(str(venv)) for line in where[:3]), where
    assert int(where[3]) > 1000

    proc = run(
        [str(venv / "bin" / "chatkit-harness"), "run", "--select", "protocol.*", "--plain"],
        elsewhere,
    )
    assert "✓ chatkit deployment healthy (" in proc.stdout
    assert "✗" not in proc.stdout
