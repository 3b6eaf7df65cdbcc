"""An OpenAI-compatible model stub for glass-box conformance checks.

A deployment under test is started with ``OPENAI_BASE_URL`` pointing at the stub; the stub
records each request (so checks can read the exact prompt) and streams a deterministic reply
that echoes what it was given, on a known token schedule (so buffering can be measured).

Import cost is kept low: no ``agents``, ``chatkit`` or ``openai`` imports here.
"""

from __future__ import annotations

from .app import create_app
from .records import RecordedModelRequest
from .reply import DEFAULT_MARKER_PATTERN, compose_reply, tokenize
from .server import ModelStub
from .state import StubState

__all__ = [
    "DEFAULT_MARKER_PATTERN",
    "ModelStub",
    "RecordedModelRequest",
    "StubState",
    "compose_reply",
    "create_app",
    "tokenize",
]
