"""The pytest plugin, driven through pytester: the same files and rules as the CLI.

The checks under test are tiny inline modules (no target needed), so these runs are fast
and deterministic.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.registry import load_catalogue, matches

pytest_plugins = ["pytester"]

CHECKS = """
from harness.report.artifacts import check_dir
from harness.registry import MUST, SHOULD, check
from harness.report.results import fail, untestable


@check(id="demo.pass", title="A passing check", level=MUST, pitfall="p", fix="f", ref="r")
def test_pass() -> None:
    pass


@check(id="demo.fail", title="A failing check", level=MUST, pitfall="p", fix="do the fix", ref="r")
def test_fail() -> None:
    fail("broken", expected="x", actual="y", evidence="HTTP 500")


@check(id="demo.warn", title="A SHOULD check", level=SHOULD, pitfall="p", fix="f", ref="r")
def test_warn() -> None:
    fail("meh", expected="a", actual="b")


@check(id="demo.skip", title="Untestable", level=MUST, pitfall="p", fix="f", ref="r")
def test_skip() -> None:
    untestable("pass --token-b to enable")


@check(id="demo.files", title="Keeps a file", level=MUST, pitfall="p", fix="f", ref="r")
def test_files(request) -> None:
    folder = check_dir(request, "demo.files")
    if folder is not None:
        (folder / "screenshot.png").write_bytes(b"png")
"""


@pytest.fixture(scope="module", autouse=True)
def _catalogue_imported() -> None:
    """Import the scenarios once out here: pytester restores sys.modules after each inner run,
    which would otherwise re-import the whole catalogue (and openai-chatkit) every time."""
    load_catalogue()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    # Plugins these inline checks do not need, and which cost seconds per in-process run.
    off = "-p no:cacheprovider -p no:playwright -p no:hypothesispytest"
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = {off}\n")
    pytester.makepyfile(test_demo=CHECKS)
    return pytester


def test_outcomes_map_onto_pytest(suite: pytest.Pytester) -> None:
    """MUST failure fails, SHOULD failure warns without failing, untestable skips."""
    result = suite.runpytest()
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] == 2
    assert outcomes["skipped"] == 1 and outcomes["warned"] == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_strict_fails_should_checks(suite: pytest.Pytester) -> None:
    """--chatkit-strict turns a SHOULD failure into a failure."""
    result = suite.runpytest("--chatkit-strict")
    assert result.parseoutcomes()["failed"] == 2


def test_json_and_junit_files_are_written(suite: pytest.Pytester) -> None:
    """--chatkit-json and --chatkit-junit write the same reports as the CLI."""
    result = suite.runpytest("--chatkit-json", "out/r.json", "--chatkit-junit", "out/r.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    doc = json.loads((suite.path / "out/r.json").read_text())
    outcomes = {c["id"]: c["outcome"] for c in doc["checks"]}
    assert outcomes == {
        "demo.pass": "pass",
        "demo.fail": "fail",
        "demo.warn": "warn",
        "demo.skip": "skip-untestable",
        "demo.files": "pass",
    }
    assert doc["exit_code"] == 1 and doc["schema_version"] == 2
    root = ET.parse(suite.path / "out/r.xml").getroot()
    failing = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failing == ["demo.fail"]
    skipped = [c.find("skipped") for c in root.iter("testcase")]
    messages = [s.get("message", "") for s in skipped if s is not None]
    assert len(messages) == 1 and "--token-b" in messages[0]


@pytest.mark.parametrize(
    ("select", "exclude", "ran"),
    [
        (["demo.f*"], [], {"demo.fail", "demo.files"}),
        ([], ["demo.f*", "demo.s*"], {"demo.pass", "demo.warn"}),
        (["demo.*"], ["demo.fail"], {"demo.pass", "demo.warn", "demo.skip", "demo.files"}),
    ],
)
def test_selection_is_the_cli_rule(
    suite: pytest.Pytester, select: list[str], exclude: list[str], ran: set[str]
) -> None:
    """--chatkit-select/--chatkit-exclude keep exactly what the CLI's matcher keeps."""
    args = [f"--chatkit-select={p}" for p in select] + [f"--chatkit-exclude={p}" for p in exclude]
    suite.runpytest(*args, "--chatkit-json", "r.json")
    doc = json.loads((suite.path / "r.json").read_text())
    got = {c["id"] for c in doc["checks"]}
    assert got == ran
    everything = {"demo.pass", "demo.fail", "demo.warn", "demo.skip", "demo.files"}
    assert got == {i for i in everything if matches(i, select, exclude)}


def test_baseline_turns_known_failures_green(suite: pytest.Pytester) -> None:
    """Listed failures (MUST and SHOULD) are baselined: the run passes and says why."""
    suite.makefile(
        ".toml",
        base='[known-failures]\n"demo.fail" = "TICKET-1"\n"demo.warn" = "TICKET-2"\n',
    )
    result = suite.runpytest("--chatkit-baseline", "base.toml", "--chatkit-json", "r.json")
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["baselined"] == 2
    result.stdout.fnmatch_lines(["*demo.fail: known failure (TICKET-1)*"])
    doc = json.loads((suite.path / "r.json").read_text())
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["demo.fail"]["outcome"] == "baselined"
    assert by_id["demo.fail"]["baseline_reason"] == "TICKET-1"
    assert by_id["demo.warn"]["outcome"] == "baselined"


def test_stale_baseline_entry_fails_the_run(suite: pytest.Pytester) -> None:
    """An entry whose check passes now fails the run with one clear line."""
    suite.makefile(".toml", base='[known-failures]\n"demo.fail" = "T-1"\n"demo.pass" = "old"\n')
    result = suite.runpytest("--chatkit-baseline", "base.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*stale baseline entry 'demo.pass'*remove it*"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[known-failures]\n"demo.nope" = "x"\n', "*'demo.nope' names no known check*"),
        ('[known-failures]\n"demo.fail" = ""\n', "*'demo.fail' needs a reason*"),
        ("[known-failures\n", "*not valid TOML*"),
        ('[other]\n"demo.fail" = "x"\n', "*no [[]known-failures[]] table*"),
    ],
)
def test_bad_baseline_is_a_usage_error(suite: pytest.Pytester, content: str, message: str) -> None:
    """A malformed baseline stops the run before any check with one error line."""
    suite.makefile(".toml", base=content)
    result = suite.runpytest("--chatkit-baseline", "base.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_artifacts_give_checks_a_folder(suite: pytest.Pytester) -> None:
    """With --chatkit-artifacts, check_dir() hands a check its folder; results are kept."""
    result = suite.runpytest("--chatkit-artifacts", "art")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    art = suite.path / "art"
    assert (art / "checks/demo.files/screenshot.png").read_bytes() == b"png"
    kept = json.loads((art / "checks/demo.fail/result.json").read_text())
    assert kept["outcome"] == "fail" and kept["fix"] == "do the fix"
    assert json.loads((art / "results.json").read_text())["artifacts"] == "art"


def test_without_artifacts_check_dir_is_none(suite: pytest.Pytester) -> None:
    """Without --chatkit-artifacts nothing is written, and check_dir() returns None."""
    suite.runpytest()
    assert not (suite.path / "art").exists()
    assert not list(suite.path.glob("**/screenshot.png"))


def test_rerun_into_the_same_artifacts_folder_starts_clean(suite: pytest.Pytester) -> None:
    """A second run replaces the first run's files, and leaves files it did not write."""
    (suite.path / "art").mkdir()
    (suite.path / "art/notes.txt").write_text("mine")
    suite.runpytest("--chatkit-artifacts", "art")
    stale = suite.path / "art/checks/demo.gone"
    stale.mkdir()
    suite.runpytest("--chatkit-artifacts", "art", "--chatkit-select", "demo.pass")
    assert not stale.exists()
    assert (suite.path / "art/notes.txt").read_text() == "mine"
    assert [p.name for p in (suite.path / "art/checks").iterdir()] == ["demo.pass"]


def test_interrupted_run_is_not_healthy(pytester: pytest.Pytester) -> None:
    """Ctrl-C mid-run: the reports say the run was interrupted, exit code 2, not a pass."""
    off = "-p no:cacheprovider -p no:playwright -p no:hypothesispytest"
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = {off}\n")
    pytester.makepyfile(
        test_stop="""
from harness.registry import MUST, check


@check(id="demo.pass", title="A passing check", level=MUST, pitfall="p", fix="f", ref="r")
def test_pass():
    pass


@check(id="demo.stop", title="Interrupted", level=MUST, pitfall="p", fix="f", ref="r")
def test_stop():
    raise KeyboardInterrupt
"""
    )
    # In a subprocess: in-process, the KeyboardInterrupt would stop this test run too.
    result = pytester.runpytest_subprocess("--chatkit-json", "r.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    doc = json.loads((pytester.path / "r.json").read_text())
    assert doc["harness_error"] == "interrupted before every check had run"
    assert doc["exit_code"] == 2
