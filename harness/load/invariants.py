"""The invariants judged after a load run, over a settled store.

- ``items-persisted``: every item a stream announced as done is in ``items.list`` of its
  thread, and every thread a stream created is in ``threads.list`` (polled with backoff,
  bounded by the settle time, so a store that writes a little late is not blamed).
- ``isolation``: no user ever saw another user's thread or message, in a stream or a list.
- ``no-5xx``: no request was answered with a 5xx status.
- ``complete-streams``: no stream answered 200 ended without its final events (streams cut
  by the end of the run itself are not judged).

A result is a plain dict (JSON- and msgpack-safe): in distributed mode every worker checks
its own users and sends it to the master, which merges them with :func:`merge`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.load.conversation import ChatKitSession, Evidence, Registry, UserRecord

INVARIANTS = ("items-persisted", "isolation", "no-5xx", "complete-streams")
MAX_PAGES = 50
PAGE = 100
MAX_EVIDENCE = 20  # per invariant: enough to act on, short enough to read


def _page_ids(session: ChatKitSession, type_: str, params: dict[str, Any]) -> list[str] | str:
    """Every id of a paginated list, or why it could not be read."""
    ids: list[str] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        page_params = {**params, "limit": PAGE, **({"after": after} if after else {})}
        res = session.call(type_, page_params)
        if res.failure:
            return f"{type_} failed: {res.failure} {res.excerpt[:120]!r}"
        data = res.payload.get("data") if isinstance(res.payload, dict) else None
        if not isinstance(data, list):
            return f"{type_} answered no data list"
        ids += [str(d.get("id")) for d in data if isinstance(d, dict)]
        after = res.payload.get("after")
        if not res.payload.get("has_more") or not after:
            return ids
    return ids


def _settled(check: Any, deadline: float, first_wait: float = 0.05) -> tuple[list[str], str | None]:
    """Poll ``check() -> (missing, problem)`` with backoff until nothing is missing."""
    wait = first_wait
    while True:
        missing, problem = check()
        if (not missing and problem is None) or time.monotonic() >= deadline:
            return missing, problem
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        wait = min(wait * 2, 1.0)


def check_user(
    record: UserRecord, registry: Registry, url: str, settle: float, timeout: float
) -> list[Evidence]:
    """Judge one user's invariants; the session's own judging adds to ``record.evidence``."""
    session = ChatKitSession(url, record, registry, timeout=timeout)
    out: list[Evidence] = []
    deadline = time.monotonic() + settle
    try:
        for thread_id, expected in list(record.threads.items()):

            def items(thread_id: str = thread_id, expected: list[str] = expected) -> Any:
                ids = _page_ids(session, "items.list", {"thread_id": thread_id, "order": "asc"})
                if isinstance(ids, str):
                    return expected, ids
                present = set(ids)
                return [i for i in expected if i not in present], None

            missing, problem = _settled(items, deadline)
            if problem:
                out.append(Evidence("items-persisted", record.name, f"{thread_id}: {problem}"))
            elif missing:
                out.append(
                    Evidence(
                        "items-persisted",
                        record.name,
                        f"thread {thread_id}: {len(missing)} of {len(expected)} items announced "
                        f"done are not in items.list after {settle:g} s: {', '.join(missing[:5])}",
                    )
                )

        def threads() -> Any:
            ids = _page_ids(session, "threads.list", {"order": "desc"})
            if isinstance(ids, str):
                return list(record.threads), ids
            unknown = session._judge_thread_list("threads.list", ids)
            strangers[:] = unknown
            present = set(ids)
            return [t for t in record.threads if t not in present], None

        strangers: list[str] = []
        before = len(record.evidence)
        missing, problem = _settled(threads, deadline)
        # Threads nobody here created: with an identity of its own, each one is someone
        # else's, unless it is one a cut-off threads.create may have made.
        if record.unique and len(strangers) > record.uncertain_creates:
            record.evidence.append(
                Evidence(
                    "isolation",
                    record.name,
                    f"threads.list showed {len(strangers)} threads {record.name} never created "
                    f"(at most {record.uncertain_creates} could be its own cut-off creates): "
                    + ", ".join(strangers[:5]),
                )
            )
        # Polling repeats the list: keep one copy of each isolation finding.
        seen: set[str] = set()
        fresh = []
        for ev in record.evidence[before:]:
            if ev.detail not in seen:
                seen.add(ev.detail)
                fresh.append(ev)
        record.evidence[before:] = fresh
        if problem:
            out.append(Evidence("items-persisted", record.name, problem))
        elif missing:
            out.append(
                Evidence(
                    "items-persisted",
                    record.name,
                    f"{len(missing)} threads created by its streams are not in threads.list: "
                    + ", ".join(missing[:5]),
                )
            )
    finally:
        session.close()
    out += record.evidence
    out += [Evidence("no-5xx", record.name, line) for line in record.server_errors]
    out += [Evidence("complete-streams", record.name, line) for line in record.incomplete]
    return out


def check_all(
    registry: Registry, url: str, *, settle: float = 5.0, timeout: float = 30.0, workers: int = 16
) -> dict[str, Any]:
    """Every user's invariants (threads here are gevent greenlets under Locust)."""
    users = list(registry.users)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(users) or 1))) as pool:
        found = list(pool.map(lambda r: check_user(r, registry, url, settle, timeout), users))
    result: dict[str, Any] = {
        name: {"checked": len(users), "violations": 0, "evidence": []} for name in INVARIANTS
    }
    for evidence in found:
        for ev in evidence:
            entry = result[ev.invariant]
            entry["violations"] += 1
            if len(entry["evidence"]) < MAX_EVIDENCE:
                entry["evidence"].append(ev.as_dict())
    result["_users"] = len(users)
    result["_threads"] = sum(len(r.threads) for r in users)
    result["_items"] = sum(len(v) for r in users for v in r.threads.values())
    result["_interrupted"] = sum(r.interrupted for r in users)
    result["_shared_identity"] = any(not r.unique for r in users)
    return result


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The invariants of several workers as one result."""
    out: dict[str, Any] = {
        name: {"checked": 0, "violations": 0, "evidence": []} for name in INVARIANTS
    }
    for key in ("_users", "_threads", "_items", "_interrupted"):
        out[key] = sum(int(r.get(key, 0)) for r in results)
    out["_shared_identity"] = any(r.get("_shared_identity") for r in results)
    for r in results:
        for name in INVARIANTS:
            part = r.get(name) or {}
            entry = out[name]
            entry["checked"] += int(part.get("checked", 0))
            entry["violations"] += int(part.get("violations", 0))
            room = MAX_EVIDENCE - len(entry["evidence"])
            entry["evidence"] += list(part.get("evidence", []))[: max(0, room)]
    return out


def failed(result: dict[str, Any]) -> list[str]:
    return [name for name in INVARIANTS if (result.get(name) or {}).get("violations")]
