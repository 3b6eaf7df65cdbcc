"""An OpenAI-compatible model stub for glass-box conformance checks.

A deployment under test is started with ``OPENAI_BASE_URL`` pointing at the stub; the stub
records each request (so checks can read the exact prompt) and streams a deterministic reply
that echoes what it was given, on a known token schedule (so buffering can be measured).

Importing this package is cheap: the web stack (FastAPI, uvicorn) loads on first use of
``ModelStub`` or ``create_app``, and ``agents``, ``chatkit`` and ``openai`` are never imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .records import RecordedModelRequest
from .reply import DEFAULT_MARKER_PATTERN, compose_reply, tokenize
from .state import StubState

if TYPE_CHECKING:
    from .app import create_app
    from .server import ModelStub

_LAZY = {"ModelStub": ".server", "create_app": ".app"}

__all__ = [
    "DEFAULT_MARKER_PATTERN",
    "ModelStub",
    "RecordedModelRequest",
    "StubState",
    "compose_reply",
    "create_app",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
