"""The agents Model behind the assistant: offline (default) or OpenAI."""

from __future__ import annotations

from agents.models.interface import Model

from .config import ServerConfig
from .faults import Fault
from .offline_model import OfflineModel


class ModelConfigError(Exception):
    """The chosen model cannot be set up (e.g. no OPENAI_API_KEY)."""


def build_model(cfg: ServerConfig) -> Model:
    """The Model for ``cfg.model``; OpenAI modes honour OPENAI_API_KEY and OPENAI_BASE_URL."""
    if cfg.model == "offline":
        # slow-first-token lives in the model, so the later deltas keep their pace (a
        # wait in respond() would let the model run ahead and release them in one burst).
        slow = cfg.slow_first_token_seconds if cfg.has(Fault.SLOW_FIRST_TOKEN) else 0.0
        return OfflineModel(token_delay=cfg.token_delay, first_token_delay=slow)
    from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
    from openai import AsyncOpenAI, OpenAIError

    try:
        client = AsyncOpenAI()  # reads OPENAI_API_KEY and OPENAI_BASE_URL
    except OpenAIError as exc:
        raise ModelConfigError(f"--model {cfg.model} needs OPENAI_API_KEY: {exc}") from None
    if cfg.model == "openai":
        return OpenAIResponsesModel(model=cfg.openai_model, openai_client=client)
    return OpenAIChatCompletionsModel(model=cfg.openai_model, openai_client=client)


def warm_model(model: Model) -> None:
    """Load at start-up what the model's first call would load.

    The OpenAI client imports each API resource (and builds its pydantic models) on first
    use: half a second or more that the first turn after a start would otherwise wait for.
    """
    from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel

    if isinstance(model, OpenAIResponsesModel):
        _ = model._client.responses
    elif isinstance(model, OpenAIChatCompletionsModel):
        _ = model._client.chat.completions
