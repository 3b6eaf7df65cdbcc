"""Which checks each fault mode of the reference server must fail: the proof table.

``tests/test_fault_matrix.py`` runs the whole suite against the reference server with each
fault and asserts the failing check ids equal exactly the set below; the correct server fails
none. ``docs/checks.md`` shows the same table, so every check names the fault that kills it.
"""

from __future__ import annotations

EXPECTED_KILLS: dict[str, frozenset[str]] = {
    "invented-events": frozenset({"protocol.event-schema"}),
    "fake-item-ids": frozenset({"protocol.unique-item-ids", "protocol.list-items"}),
    "no-delete": frozenset({"protocol.delete-thread"}),
}


def proven_by(check_id: str) -> list[str]:
    return sorted(f for f, kills in EXPECTED_KILLS.items() if check_id in kills)
