"""Known failures (``--baseline FILE`` / ``--chatkit-baseline FILE``), which cannot rot.

A team adopting the harness on a deployment that still fails some checks lists them, each with
a reason, so the gate goes green and stays a gate for everything else::

    # chatkit-baseline.toml
    [known-failures]
    "history.recall" = "TICKET-7: history is loaded from the store only in v2"

A listed check that fails (or warns) is reported as ``baselined`` and does not fail the run.
A listed check that passes is a *stale* entry: the run fails, naming the entry to delete, so a
fixed problem cannot silently come back later under cover of an old entry. Entries name exact
check ids (no globs: a glob could never be proven stale) and every entry needs a reason.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.report.results import CheckResult, Outcome

TABLE = "known-failures"
BASELINABLE = frozenset({Outcome.FAIL, Outcome.WARN})


class BaselineError(Exception):
    """The baseline file is missing or malformed; the message is one line for the user."""


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: Mapping[str, str]  # check id -> reason

    def reason(self, check_id: str) -> str | None:
        return self.entries.get(check_id)

    def __contains__(self, check_id: object) -> bool:
        return check_id in self.entries


def load_baseline(path: str | os.PathLike[str], known_ids: Iterable[str] | None = None) -> Baseline:
    """Read and validate a baseline; ``known_ids`` (the catalogue) catches typos in ids."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline file {str(p)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"baseline file {str(p)!r} is not valid TOML: {exc}") from None
    table = data.get(TABLE)
    if not isinstance(table, dict):
        raise BaselineError(f"baseline file {str(p)!r} has no [{TABLE}] table")
    extra = sorted(set(data) - {TABLE})
    if extra:
        raise BaselineError(f"baseline file {str(p)!r}: unknown key {extra[0]!r}")
    known = set(known_ids) if known_ids is not None else None
    entries: dict[str, str] = {}
    for check_id, reason in table.items():
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(f"baseline entry {check_id!r} needs a reason (a non-empty string)")
        if known is not None and check_id not in known:
            raise BaselineError(f"baseline entry {check_id!r} names no known check")
        entries[check_id] = reason.strip()
    return Baseline(str(p), entries)


def render_baseline(results: Iterable[CheckResult]) -> str:
    """A baseline listing every failure of a run, to start from (reasons to be filled in)."""
    lines = [
        "# chatkit-harness baseline: known failures that do not fail the run.",
        "# Give each entry a real reason; delete an entry once its check passes.",
        f"[{TABLE}]",
    ]
    for r in results:
        if r.outcome in BASELINABLE or r.outcome is Outcome.BASELINED:
            reason = r.baseline_reason or f"TODO: {r.message or r.title}"
            lines.append(f"{_toml_str(r.id)} = {_toml_str(reason.splitlines()[0][:200])}")
    return "\n".join(lines) + "\n"


def _toml_str(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'
