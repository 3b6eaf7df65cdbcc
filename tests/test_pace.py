"""The bundled server's pace: POST /_reference/pace, the harness's timed block, the heap."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import heap
from harness.target import pace
from reference_server.config import ServerConfig
from reference_server.dev_issuer import load_dev_key, mint_dev_token
from reference_server.serving import serve_in_thread
from reference_server.testing import create_thread_body, parse_sse


@pytest.fixture(scope="module")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pace") / "dev-key.pem"
    load_dev_key(path)
    return path


@pytest.fixture(scope="module")
def url(key_path: Path) -> Iterator[str]:
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0, pace_control=True)
    with serve_in_thread(cfg) as base:
        yield base


def _post(url: str, body: object) -> httpx.Response:
    return httpx.post(pace.pace_url(url), json=body, timeout=10)


def test_the_route_exists_only_with_pace_control(key_path: Path) -> None:
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0)
    with serve_in_thread(cfg) as base:
        assert _post(base, {"token_delay": 0.001}).status_code == 404


def test_setting_the_pace_answers_the_old_one(url: str) -> None:
    first = _post(url, {"token_delay": 0.002})
    assert first.status_code == 200, first.text
    second = _post(url, {"token_delay": 0.0})
    assert second.json() == {"token_delay": 0.0, "before": 0.002}


@pytest.mark.parametrize(
    "body", [{}, {"token_delay": -1}, {"token_delay": 5}, {"token_delay": "fast"}, [1], "NaN"]
)
def test_a_bad_pace_is_refused_and_changes_nothing(url: str, body: object) -> None:
    _post(url, {"token_delay": 0.0})
    assert _post(url, body).status_code == 400
    assert _post(url, {"token_delay": 0.0}).json()["before"] == 0.0


def test_the_pace_reaches_the_stream(url: str, key_path: Path) -> None:
    headers = {"Authorization": f"Bearer {mint_dev_token('alice', key_path=key_path)}"}
    _post(url, {"token_delay": 0.02})
    try:
        started = time.monotonic()
        body = create_thread_body("one two three")
        resp = httpx.post(url, json=body, headers=headers, timeout=30)
        took = time.monotonic() - started
    finally:
        _post(url, {"token_delay": 0.0})
    deltas = [
        e
        for e in parse_sse(resp.content)
        if e.get("type") == "thread.item.updated"
        and e["update"].get("type") == "assistant_message.content_part.text_delta"
    ]
    assert len(deltas) >= 3
    # Each delta sleeps first: a lower bound, whatever the machine's speed.
    assert took >= 0.02 * len(deltas)


def test_the_timed_block_sets_the_timed_pace_and_restores_the_run_pace(url: str) -> None:
    async def inside() -> float:
        async with pace.timed(pace.pace_url(url)):
            return float(_post(url, {"token_delay": pace.TIMED_TOKEN_DELAY}).json()["before"])

    assert asyncio.run(inside()) == pace.TIMED_TOKEN_DELAY
    assert _post(url, {"token_delay": 0.0}).json()["before"] == pace.RUN_TOKEN_DELAY


def test_the_timed_block_does_nothing_without_a_pace_url() -> None:
    async def inside() -> bool:
        async with pace.timed(None):
            return True

    assert asyncio.run(inside())


def test_a_server_that_refuses_its_pace_stops_the_timed_stream(key_path: Path) -> None:
    cfg = ServerConfig(db_path=":memory:", dev_key_path=key_path, token_delay=0)

    async def inside(base: str) -> None:
        async with pace.timed(pace.pace_url(base)):
            raise AssertionError("the block ran at the wrong pace")

    with serve_in_thread(cfg) as base, pytest.raises(pace.PaceError, match="HTTP 404"):
        asyncio.run(inside(base))


# -- the collector while a run starts (harness.heap) ------------------------------------------


def test_imported_freezes_and_enables_only_after_importing() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    heap.imported()  # nobody paused it: plain pytest keeps its collector untouched
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    heap.importing()
    try:
        assert not gc.isenabled()
    finally:
        heap.imported()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen
    gc.unfreeze()  # this test process is not a run: give the collector its objects back


def test_an_in_process_run_leaves_the_callers_collector_alone() -> None:
    from harness.cli import main

    frozen = gc.get_freeze_count()
    assert main(["run", "--list", "--select", "sse.*"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
