"""Property-based fuzzing of request bodies against the reference server, over a real socket.

Properties, for every body: never a 5xx (but the deliberate 501 of unimplemented request
types), never a dropped keep-alive connection, never a stream that breaks off, never anything
but 401 without a credential; and afterwards user A's existing threads are exactly as they
were. At least 2,000 bodies per run (many per hypothesis example, to keep it fast);
benchmarks/fuzz.py sends many more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzz_support import (
    Case,
    Ids,
    KeepAlive,
    cases,
    check_answer,
    seed_threads,
    snapshot,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.target.launch import Launched, start_reference_server
from reference_server.dev_issuer import load_dev_key, mint_dev_token

MIN_CASES = 2000
FAST = settings(
    max_examples=300,  # x 7 to 12 bodies each
    deadline=None,
    derandomize=True,  # the same bodies on every run: a CI failure reproduces locally
    database=None,
    # No shrinking: each example is a dozen requests, and shrinking one took minutes; the
    # failure message already names the exact body and who sent it.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Launched, Path]]:
    key = tmp_path_factory.mktemp("fuzz") / "dev-key.pem"
    load_dev_key(key)
    launched = start_reference_server(
        ["--db", ":memory:", "--token-delay", "0", "--dev-key", str(key)]
    )
    yield launched, key
    launched.stop()


def test_fuzzed_bodies_never_hurt_the_server(server: tuple[Launched, Path]) -> None:
    launched, key = server
    tokens = {who: mint_dev_token(who, key_path=key) for who in ("a", "b")}
    conn = KeepAlive(launched.url, tokens)
    try:
        a_threads, a_items = seed_threads(conn, "a", 2)
        b_threads, b_items = seed_threads(conn, "b", 1)
        ids = Ids(tuple(a_threads), tuple(a_items), tuple(b_threads), tuple(b_items))
        before = snapshot(lambda body: conn.post(body, "a"), ids.a_threads)
        start = conn.sent

        @FAST
        @given(st.lists(cases(ids), min_size=7, max_size=12))
        def prop(batch: list[Case]) -> None:
            for case in batch:
                check_answer(case, conn.post(case.body, case.who))

        prop()
        fuzzed = conn.sent - start
        after = snapshot(lambda body: conn.post(body, "a"), ids.a_threads)
    finally:
        conn.close()
    print(f"fuzzed {fuzzed} bodies, statuses {conn.statuses}")
    assert fuzzed >= MIN_CASES, f"only {fuzzed} bodies were sent"
    assert after == before, "user A's threads changed under fuzzing"
    assert all(status == 200 for status, _ in before.values())
    # Several kinds of answer, so the bodies reach past the first validation step.
    assert {200, 400, 401, 404} <= set(conn.statuses), conn.statuses
