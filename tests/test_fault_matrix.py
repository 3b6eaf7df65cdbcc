"""The proof table: each fault of the reference server fails exactly its checks.

The whole suite runs against the bundled reference server once per fault (and once with no
fault); the failing check ids must equal ``EXPECTED_KILLS[fault]`` exactly, so a check that
cannot fail and a check that fires falsely both show up here. Every check in the catalogue
must be killed by at least one fault (kill rate 100 %), except the browser checks, which have
their own matrix over broken pages (tests/test_browser_matrix.py), and the checks proven
through real proxies (tests/test_proxies.py).

The whole-protocol feature areas (FEATURE_AREAS) run apart: core faults run with those areas
left out, feature faults (and core faults whose kills reach into them) run with only those
areas selected. All of it is in the default run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.registry import load_catalogue
from harness.testing.fault_matrix import (
    EXPECTED_KILLS,
    FEATURE_AREAS,
    MAY_KILL,
    MCP_KILLS,
    PROVEN_ELSEWHERE,
    STUB_KILLS,
    is_feature_check,
    is_feature_fault,
)

pytestmark = pytest.mark.slow

# Browser and proxy checks have their own matrices; here they would only be skipped.
EXCLUDE = ["browser.*", "proxy.*"]
CORRECT = "(none)"


def _feature_part(kills: frozenset[str]) -> set[str]:
    """The kills a feature run can show: it selects only the feature areas."""
    return {c for c in kills if is_feature_check(c)}


FEATURE_WORKERS = 3
STUB = "stub:"  # prefix of the glass-box runs in the table
MCP = "mcp:"  # prefix of the MCP runs (glass-box mode plus the MCP stub)
FEAT = "feature:"  # prefix of the runs that select only the whole-protocol feature areas
FEATURES = [f"{area}.*" for area in sorted(FEATURE_AREAS)]
CORE_FAULTS = sorted(f for f in EXPECTED_KILLS if not is_feature_fault(f))
CORE_STUB_FAULTS = sorted(f for f in STUB_KILLS if not is_feature_fault(f))
# A feature run per feature fault, and per core fault whose blast radius reaches into the
# feature areas (shared-threads): its core run leaves those areas out, so only a feature run
# can show those kills.
FEATURE_FAULTS = sorted(
    f for f in EXPECTED_KILLS if is_feature_fault(f) or _feature_part(EXPECTED_KILLS[f])
)
FEATURE_STUB_FAULTS = sorted(
    f for f in STUB_KILLS if is_feature_fault(f) or _feature_part(STUB_KILLS[f])
)


def run_with_fault(key: str, tmp: Path) -> tuple[dict[str, str], float]:
    """The outcome of every check in one harness run, and the run's wall time."""
    t0 = time.monotonic()
    feature = key.startswith(FEAT)
    key_rest = key.removeprefix(FEAT)
    mcp = key_rest.startswith(MCP)
    stub = mcp or key_rest.startswith(STUB)
    fault = key_rest.removeprefix(STUB).removeprefix(MCP)
    out = tmp / f"{key.replace(':', '-').strip('()')}.json"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--plain", "--json", str(out)]
    if stub:
        cmd.append("--model-stub")
    if mcp:
        cmd.append("--mcp-stub")
    for pat in EXCLUDE + ([] if feature else FEATURES):
        cmd += ["--exclude", pat]
    for pat in FEATURES if feature else []:
        cmd += ["--select", pat]
    if fault != CORRECT:
        cmd += ["--fault", fault]
    env = {**os.environ, "NO_COLOR": "1"}
    # Each run imports (and pytest rewrites) the same hundred modules: let the first run
    # cache their bytecode for the others, where the environment says not to.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode not in (0, 1) or not out.exists():
        raise AssertionError(
            f"harness run with fault {fault} exited {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    data = json.loads(out.read_text())
    return {c["id"]: c["outcome"] for c in data["checks"]}, time.monotonic() - t0


ALL_RUNS = [
    CORRECT,
    STUB + CORRECT,
    MCP + CORRECT,
    FEAT + CORRECT,
    FEAT + STUB + CORRECT,
    *CORE_FAULTS,
    *(STUB + f for f in CORE_STUB_FAULTS),
    *(MCP + f for f in MCP_KILLS),
    *(FEAT + f for f in FEATURE_FAULTS),
    *(FEAT + STUB + f for f in FEATURE_STUB_FAULTS),
]


def _wanted(request: pytest.FixtureRequest) -> list[str]:
    """The runs the selected tests read (`-k mcp` starts only the MCP runs)."""
    wanted: set[str] = set()
    for item in request.session.items:
        if item.module is not sys.modules[__name__]:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = item.originalname if isinstance(item, pytest.Function) else item.name
        wanted |= set(RUNS_OF.get(name, lambda p: ALL_RUNS)(params))
    return [r for r in ALL_RUNS if r in wanted]


RUNS_OF = {
    "test_correct_server_fails_nothing": lambda p: [p["mode"] + CORRECT],
    "test_glass_checks_run_in_stub_mode": lambda p: [STUB + CORRECT],
    "test_mcp_checks_run_in_mcp_mode": lambda p: [MCP + CORRECT],
    "test_fault_fails_exactly_its_checks": lambda p: [p["fault"]],
    "test_fault_fails_exactly_its_checks_in_stub_mode": lambda p: [STUB + p["fault"]],
    "test_fault_fails_exactly_its_checks_in_mcp_mode": lambda p: [MCP + p["fault"]],
    "test_kill_rate_is_total": lambda p: [CORRECT, FEAT + CORRECT],
    "test_correct_server_fails_no_feature_check": lambda p: [FEAT + p["mode"] + CORRECT],
    "test_feature_fault_fails_exactly_its_checks": lambda p: [FEAT + p["fault"]],
    "test_feature_fault_fails_exactly_its_checks_in_stub_mode": lambda p: [
        FEAT + STUB + p["fault"]
    ],
}


@pytest.fixture(scope="module")
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("matrix")
    faults = _wanted(request)
    results: dict[str, tuple[dict[str, str], float]] = {}
    # Core runs two at a time: the machines have two cores, and the timing checks need some
    # headroom. The feature runs have no timing check and wait on the server more than they
    # compute (settle polls, sequential round trips), so they go three at a time, in a phase
    # of their own.
    feature_runs = [f for f in faults if f.startswith(FEAT)]
    core_runs = [f for f in faults if not f.startswith(FEAT)]
    for keys, workers in ((feature_runs, FEATURE_WORKERS), (core_runs, 2)):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results.update(zip(keys, pool.map(lambda f: run_with_fault(f, tmp), keys), strict=True))
    table = {f: results[f][0] for f in faults}
    _print_table(table, {f: results[f][1] for f in faults})
    return table


def _failed(outcomes: dict[str, str]) -> set[str]:
    return {cid for cid, o in outcomes.items() if o in ("fail", "warn", "error")}


def _sure(kills: set[str], fault: str) -> set[str]:
    """The kills without those of MAY_KILL[fault], which depend on timing: the rest of a
    run's failing checks must match the table exactly."""
    return kills - MAY_KILL.get(fault, frozenset())


def _print_table(table: dict[str, dict[str, str]], seconds: dict[str, float]) -> None:
    lines = ["", "fault matrix (run wall time, failing checks per fault):"]
    for fault, outcomes in table.items():
        failed = " ".join(sorted(_failed(outcomes))) or "-"
        lines.append(f"  {fault:<36} {seconds[fault]:5.1f}s {failed}")
    lines.append(f"  {len(table)} runs, {sum(seconds.values()):.0f} s of run time in all")
    print("\n".join(lines))


@pytest.mark.parametrize("mode", ["", STUB, MCP])
def test_correct_server_fails_nothing(mode: str, matrix: dict[str, dict[str, str]]) -> None:
    outcomes = matrix[mode + CORRECT]
    assert _failed(outcomes) == set(), outcomes
    assert "pass" in outcomes.values()


def test_glass_checks_run_in_stub_mode(matrix: dict[str, dict[str, str]]) -> None:
    glass = {k: v for k, v in matrix[STUB + CORRECT].items() if k.startswith("glass.")}
    assert glass and set(glass.values()) == {"pass"}, glass


def test_mcp_checks_run_in_mcp_mode(matrix: dict[str, dict[str, str]]) -> None:
    mcp = {k: v for k, v in matrix[MCP + CORRECT].items() if k.startswith("mcp.")}
    assert mcp and set(mcp.values()) == {"pass"}, mcp


@pytest.mark.parametrize("fault", sorted(MCP_KILLS))
def test_fault_fails_exactly_its_checks_in_mcp_mode(
    fault: str, matrix: dict[str, dict[str, str]]
) -> None:
    assert _failed(matrix[MCP + fault]) == set(MCP_KILLS[fault])


@pytest.mark.parametrize("fault", CORE_FAULTS)
def test_fault_fails_exactly_its_checks(fault: str, matrix: dict[str, dict[str, str]]) -> None:
    assert _sure(_failed(matrix[fault]), fault) == _core(EXPECTED_KILLS[fault])


@pytest.mark.parametrize("fault", CORE_STUB_FAULTS)
def test_fault_fails_exactly_its_checks_in_stub_mode(
    fault: str, matrix: dict[str, dict[str, str]]
) -> None:
    assert _sure(_failed(matrix[STUB + fault]), fault) == _core(STUB_KILLS[fault])


def _core(kills: frozenset[str]) -> set[str]:
    """The kills a core run can show: it leaves the feature areas out."""
    return {c for c in kills if not is_feature_check(c)}


@pytest.mark.parametrize("mode", ["", STUB])
def test_correct_server_fails_no_feature_check(
    mode: str, matrix: dict[str, dict[str, str]]
) -> None:
    outcomes = matrix[FEAT + mode + CORRECT]
    assert _failed(outcomes) == set(), outcomes
    assert "pass" in outcomes.values()


@pytest.mark.parametrize("fault", FEATURE_FAULTS)
def test_feature_fault_fails_exactly_its_checks(
    fault: str, matrix: dict[str, dict[str, str]]
) -> None:
    assert _sure(_failed(matrix[FEAT + fault]), fault) == _feature_part(EXPECTED_KILLS[fault])


@pytest.mark.parametrize("fault", FEATURE_STUB_FAULTS)
def test_feature_fault_fails_exactly_its_checks_in_stub_mode(
    fault: str, matrix: dict[str, dict[str, str]]
) -> None:
    assert _sure(_failed(matrix[FEAT + STUB + fault]), fault) == _feature_part(STUB_KILLS[fault])


def test_kill_rate_is_total(matrix: dict[str, dict[str, str]]) -> None:
    catalogue = set(load_catalogue())
    killed = set().union(*EXPECTED_KILLS.values(), *STUB_KILLS.values(), *MCP_KILLS.values())
    killed |= set(PROVEN_ELSEWHERE)
    assert catalogue - killed == set(), "checks no fault can fail"
    assert killed - catalogue == set(), "the matrix names checks that do not exist"
    ran = set(matrix[CORRECT]) | set(matrix[FEAT + CORRECT])
    in_matrix = {c for c in catalogue if not any(c.startswith(p[:-1]) for p in EXCLUDE)}
    assert in_matrix <= ran


def test_a_kill_that_depends_on_timing_is_never_also_a_sure_one() -> None:
    for fault, may in MAY_KILL.items():
        assert fault in EXPECTED_KILLS, fault
        assert not may & EXPECTED_KILLS[fault], fault
        assert may <= set(load_catalogue()), may
