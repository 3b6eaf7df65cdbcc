"""Assistant message ids as ChatKit stores them.

stream_agent_response reuses the model's output message id as the ChatKit item id.
The Agents SDK's Chat Completions path emits the constant ``__fake_id__`` for every
message (openai-agents FAKE_RESPONSES_ID; chatkit-python #36), so every assistant
message would share one id and overwrite the last. The rewriter gives each such
message a fresh store id; the fake-item-ids fault does the opposite on purpose.
"""

from __future__ import annotations

from collections.abc import Callable

from chatkit.types import (
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

FAKE_ID = "__fake_id__"


class AssistantIdRewriter:
    """Maps the model's assistant message ids to the ids ChatKit should see."""

    def __init__(self, new_id: Callable[[], str], *, force_fake: bool = False) -> None:
        self._new_id = new_id
        self._force_fake = force_fake
        self._current: dict[str, str] = {}

    def _target_for(self, model_id: str) -> str:
        if self._force_fake:
            return FAKE_ID  # fake-item-ids fault
        return self._new_id() if model_id == FAKE_ID else model_id

    def __call__(self, event: ThreadStreamEvent) -> ThreadStreamEvent:
        """The event with assistant message ids rewritten (other events unchanged)."""
        if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, AssistantMessageItem):
            target = self._target_for(event.item.id)
            self._current[event.item.id] = target
            return event.model_copy(update={"item": event.item.model_copy(update={"id": target})})
        if isinstance(event, (ThreadItemDoneEvent, ThreadItemReplacedEvent)) and isinstance(
            event.item, AssistantMessageItem
        ):
            # Done closes the message: a later message reusing the same model id
            # (the Chat Completions path always does) gets an id of its own.
            mapped = self._current.pop(event.item.id, None)
            target = mapped if mapped is not None else self._target_for(event.item.id)
            return event.model_copy(update={"item": event.item.model_copy(update={"id": target})})
        if isinstance(event, (ThreadItemUpdatedEvent, ThreadItemRemovedEvent)):
            current = self._current.get(event.item_id)
            if current is not None and current != event.item_id:
                return event.model_copy(update={"item_id": current})
        return event
