"""One result model, several sinks (terminal, JSON, JUnit, annotations).

Checks raise :class:`CheckFailure` (an ``AssertionError``, so pytest shows it natively) carrying
what was expected, what happened and the evidence. The plugin turns each test report into a
:class:`CheckResult`; every sink renders the same :class:`RunResult`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

import pytest

from harness.registry import CheckSpec

SCHEMA_VERSION = 2  # 2: blocked and not-offered outcomes, blocked_by


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"  # a MUST check is broken
    WARN = "warn"  # a SHOULD check is broken
    SKIP = "skip-untestable"  # a precondition the user did not provide
    BLOCKED = "blocked"  # a precondition failed on the target: the root cause is another check
    NOT_OFFERED = "not-offered"  # the deployment says clearly it does not implement the feature
    ERROR = "error"  # the harness itself broke
    BASELINED = "baselined"  # a known failure listed in the baseline file


class CheckFailure(AssertionError):
    """The target violated a check. ``evidence`` is shown under the failure and kept in reports."""

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        evidence: str = "",
        repro: str = "",
        fix: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.evidence = evidence
        self.repro = repro
        # A check that tells several causes apart gives this failure's own fix (else the spec's).
        self.fix = fix

    def __str__(self) -> str:
        parts = [self.message]
        if self.expected:
            parts.append(f"Expected: {self.expected}")
        if self.actual:
            parts.append(f"Actual:   {self.actual}")
        if self.evidence:
            parts.append("Evidence:\n" + self.evidence)
        return "\n".join(parts)


def fail(
    message: str,
    *,
    expected: str = "",
    actual: str = "",
    evidence: str = "",
    repro: str = "",
    fix: str = "",
) -> NoReturn:
    raise CheckFailure(
        message, expected=expected, actual=actual, evidence=evidence, repro=repro, fix=fix
    )


UNTESTABLE_PREFIX = "untestable: "


def untestable(reason: str) -> NoReturn:
    """Skip a check whose precondition is missing; ``reason`` names the option that enables it."""
    pytest.skip(UNTESTABLE_PREFIX + reason)


# A blocked check rides on pytest's skip (pytest must neither fail nor pass it); the prefix
# carries the root cause through the report, where the plugin turns it into Outcome.BLOCKED.
BLOCKED_PREFIX = "blocked by "
NOT_OFFERED_PREFIX = "not offered: "


def blocked(root: str, reason: str) -> NoReturn:
    """A precondition failed on the target: this check cannot judge anything.

    ``root`` is the check id (or probe name) whose failure is the cause; ``reason`` says what
    did not hold, with its evidence in a few words ("threads.get_by_id answered HTTP 500").
    Never a fail with this check's own fix text, never a pass.
    """
    pytest.skip(f"{BLOCKED_PREFIX}{root}: {reason}")


# Conditions a pass holds under ("isolation holds only because ..."): collected while the
# check runs, read by the plugin into the pass's CheckResult.message.
_NOTES: list[str] = []


def note(text: str) -> None:
    """Say under which condition this check passes; shown with the pass, never a verdict."""
    _NOTES.append(text)


def take_notes() -> list[str]:
    """The notes of the check that just ran (and forget them)."""
    notes = list(_NOTES)
    _NOTES.clear()
    return notes


def not_offered(reason: str) -> NoReturn:
    """The deployment says clearly that it does not implement this feature (a 501, say)."""
    pytest.skip(NOT_OFFERED_PREFIX + reason)


def parse_skip(reason: str) -> tuple[Outcome, str, str]:
    """(outcome, message, blocked_by) of a skip reason written by the helpers above."""
    reason = reason.removeprefix("Skipped: ")
    if reason.startswith(BLOCKED_PREFIX):
        root, _, why = reason.removeprefix(BLOCKED_PREFIX).partition(": ")
        return Outcome.BLOCKED, why, root
    if reason.startswith(NOT_OFFERED_PREFIX):
        return Outcome.NOT_OFFERED, reason.removeprefix(NOT_OFFERED_PREFIX), ""
    return Outcome.SKIP, reason.removeprefix(UNTESTABLE_PREFIX), ""


@dataclass
class CheckResult:
    id: str
    title: str
    area: str
    level: str
    outcome: Outcome
    duration: float
    pitfall: str
    fix: str
    ref: str
    message: str = ""
    expected: str = ""
    actual: str = ""
    evidence: str = ""
    repro: str = ""
    baseline_reason: str = ""
    # For BLOCKED: the check id (or probe name) whose failure made this check unjudgeable.
    blocked_by: str = ""

    @classmethod
    def from_spec(cls, spec: CheckSpec, outcome: Outcome, duration: float) -> CheckResult:
        return cls(
            id=spec.id,
            title=spec.title,
            area=spec.area,
            level=spec.level.value,
            outcome=outcome,
            duration=duration,
            pitfall=spec.pitfall,
            fix=spec.fix,
            ref=spec.ref,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data


_NOT_RUN = frozenset({Outcome.SKIP, Outcome.NOT_OFFERED, Outcome.BLOCKED})


@dataclass(frozen=True)
class ProbeTiming:
    name: str
    quiet: bool
    started: float  # seconds since the record phase began
    elapsed: float
    error: str = ""


@dataclass
class RunResult:
    target: str
    harness_version: str
    results: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0
    strict: bool = False
    stale_baseline: list[str] = field(default_factory=list)
    harness_error: str = ""
    # When each probe of the record phase ran: what made a run slow is a question users ask.
    probes: list[ProbeTiming] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {o.value: 0 for o in Outcome}
        for r in self.results:
            out[r.outcome.value] += 1
        return out

    def nothing_ran(self) -> str:
        """Why no selected check could judge the target ("" when one did).

        A run whose every check was skipped (or not offered) proves nothing: reported healthy
        it would pass a CI gate that checks nothing, so it is a harness error (exit 2), the way
        pytest exits 5 when it collected no test.
        """
        if not self.results or any(r.outcome not in _NOT_RUN for r in self.results):
            return ""
        reasons: dict[str, str] = {}  # first line of each distinct reason -> first check id
        for r in self.results:
            if r.message.strip():
                reasons.setdefault(r.message.strip().splitlines()[0], r.id)
        n = len(self.results)
        what = "the selected check was" if n == 1 else f"all {n} selected checks were"
        line = f"no check could run: {what} skipped or blocked"
        if reasons:
            (first, first_id), others = next(iter(reasons.items())), len(reasons) - 1
            line += f" ({first_id}: {first}"
            line += f"; and {others} other reason{'s' if others > 1 else ''})" if others else ")"
        return line

    @property
    def exit_code(self) -> int:
        """0 every MUST check passed; 1 a check failed; 2 the harness could not run."""
        if self.harness_error:
            return 2
        broken = (Outcome.FAIL, Outcome.ERROR)
        if any(r.outcome in broken for r in self.results) or self.stale_baseline:
            return 1
        if self.strict and any(r.outcome is Outcome.WARN for r in self.results):
            return 1
        return 0
