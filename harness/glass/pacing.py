"""Does the model's token schedule survive to the client? Send times against arrival times.

The model stub records when it handed each text delta to the socket; the client records when
each ChatKit text delta arrived. Both are ``time.monotonic()`` readings on one machine (the stub
only listens on 127.0.0.1), so each client delta can be paired with the stub token that
completed it and their difference, the lag, compared. Passed straight through, every delta
lags by about the same few milliseconds. Held back anywhere (a buffering proxy, a gzip layer,
a server that collects the model's answer before streaming), early deltas lag by most of the
stream's length. Comparing lags with their own minimum cancels the constant part (network,
the harness's clock reading just before sending), so only the spread is judged.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_TOKENS = 5
MIN_SPAN = 0.3  # the stub's stream must last this long for a verdict
SLACK = 0.25  # allowed median extra lag, as a share of the stub's stream length...
SLACK_FLOOR = 0.05  # ...but never less than 50 ms (scheduler noise on a busy machine)


@dataclass(frozen=True)
class PassThrough:
    sent: int  # deltas the stub sent
    received: int  # text deltas the client got
    stub_span: float  # first to last send
    client_span: float  # first to last arrival
    stub_gap: float  # median gap between sends
    client_gap: float  # median gap between arrivals
    extra_lag: float  # median of (lag - smallest lag) over the client's deltas

    @property
    def judgeable(self) -> bool:
        return self.sent >= MIN_TOKENS and self.stub_span >= MIN_SPAN

    @property
    def allowed(self) -> float:
        return max(SLACK_FLOOR, SLACK * self.stub_span)

    @property
    def held_back(self) -> bool:
        return self.received == 0 or self.extra_lag > self.allowed

    def describe(self) -> str:
        return (
            f"the model stub sent {self.sent} deltas over {self.stub_span * 1000:.0f} ms "
            f"(median gap {self.stub_gap * 1000:.1f} ms); the client got {self.received} over "
            f"{self.client_span * 1000:.0f} ms (median gap {self.client_gap * 1000:.1f} ms), "
            f"a median {self.extra_lag * 1000:.0f} ms behind the model's schedule "
            f"(allowed {self.allowed * 1000:.0f} ms)"
        )


def _median_gap(times: Sequence[float]) -> float:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.median(gaps) if gaps else 0.0


def compare(
    send_times: Sequence[float],
    tokens: Sequence[str],
    arrivals: Sequence[tuple[float, str]],
) -> PassThrough:
    """``send_times[i]`` sent ``tokens[i]``; ``arrivals`` are (monotonic time, delta text).

    A client delta is paired with the stub token that completes its text (deployments may
    merge tokens into fewer deltas); when the texts disagree, by its share of the text.
    """
    sends = list(send_times)
    tokens = list(tokens)[: len(sends)]
    sent_cum = list(itertools.accumulate(len(t) for t in tokens)) or [0]
    got_cum = list(itertools.accumulate(len(text) for _, text in arrivals))
    same_text = "".join(tokens).startswith("".join(text for _, text in arrivals))
    lags: list[float] = []
    for (t, _), length in zip(arrivals, got_cum, strict=True):
        if not sends:
            break
        if same_text and len(tokens) == len(sends):
            j = next((i for i, c in enumerate(sent_cum) if c >= length), len(sends) - 1)
        else:
            j = min(len(sends) - 1, round(length / max(1, got_cum[-1]) * (len(sends) - 1)))
        lags.append(t - sends[j])
    smallest = min(lags, default=0.0)
    times = [t for t, _ in arrivals]
    return PassThrough(
        sent=len(sends),
        received=len(arrivals),
        stub_span=(sends[-1] - sends[0]) if sends else 0.0,
        client_span=(times[-1] - times[0]) if times else 0.0,
        stub_gap=_median_gap(sends),
        client_gap=_median_gap(times),
        extra_lag=statistics.median(lag - smallest for lag in lags) if lags else 0.0,
    )
