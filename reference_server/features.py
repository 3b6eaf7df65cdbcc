"""What the reference assistant does besides chat, switched on by keywords in the message.

A real app shows a widget when its own tool decides to; an offline reference server needs
a deterministic trigger instead. Each keyword below makes respond() stream one feature the
way the SDK's helpers do (stream_widget, a pending ClientToolCallItem, a StructuredInputItem,
progress_update / client_effect / notice events, a closed thread status), identically with
the offline model and with a real model (glass-box mode), because none of it depends on the
model's answer. The harness's default triggers for the bundled server use these keywords.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from chatkit.actions import ActionConfig
from chatkit.types import (
    ClientEffectEvent,
    ClientToolCallItem,
    NoticeEvent,
    ProgressUpdateEvent,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.widgets import Button, Card, Text

KW_WIDGET = "#harness-widget"
KW_CLIENT_TOOL = "#harness-client-tool"
KW_STRUCTURED_INPUT = "#harness-structured-input"
KW_PROGRESS = "#harness-progress"
KW_EFFECT = "#harness-effect"
KW_NOTICE = "#harness-notice"
KW_CLOSE = "#harness-close"

VOTE_ACTION = "harness.vote"
PING_ACTION = "harness.ping"  # an action without a sender widget (client-dispatched)
CLIENT_TOOL_NAME = "harness_get_selection"
PROGRESS_TEXT = "Looking that up"
NOTICE_TEXT = "This is a notice from the reference server."
EFFECT_NAME = "harness.highlight"
CLOSED_REASON = "closed on request"


def message_text(item: UserMessageItem | None) -> str:
    if item is None:
        return ""
    return " ".join(p.text for p in item.content if isinstance(p, UserMessageTextContent))


def vote_widget(votes: int) -> Card:
    """A card counting votes; its button sends the harness.vote action."""
    with warnings.catch_warnings():
        # openai-chatkit 1.6.5 prefers .widget template files; the classes are still the
        # types every widget validates against, and a template file would add nothing here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return _card(votes)


def _card(votes: int) -> Card:
    return Card(
        children=[
            Text(id="votes", value=f"Votes: {votes}"),
            Button(
                key="vote",
                label="Vote",
                onClickAction=ActionConfig(type=VOTE_ACTION, payload={"by": 1}),
            ),
        ]
    )


def votes_of(item: WidgetItem) -> int:
    """The count a vote widget shows (0 for any other widget)."""
    for child in getattr(item.widget, "children", None) or []:
        value = getattr(child, "value", None)
        if getattr(child, "id", None) == "votes" and isinstance(value, str):
            try:
                return int(value.rsplit(" ", 1)[-1])
            except ValueError:
                return 0
    return 0


def voted(item: WidgetItem, by: Any) -> WidgetItem:
    """The widget after one vote action."""
    step = by if isinstance(by, int) and 0 < by < 100 else 1
    return item.model_copy(update={"widget": vote_widget(votes_of(item) + step)})


def before_reply(text: str) -> list[ThreadStreamEvent]:
    """Events streamed before the model's reply: progress, a client effect, a notice."""
    events: list[ThreadStreamEvent] = []
    if KW_PROGRESS in text:
        events.append(ProgressUpdateEvent(text=PROGRESS_TEXT))
    if KW_EFFECT in text:
        events.append(ClientEffectEvent(name=EFFECT_NAME, data={"target": "composer"}))
    if KW_NOTICE in text:
        events.append(NoticeEvent(level="info", message=NOTICE_TEXT, title="Notice"))
    return events


def pending_items(thread: ThreadMetadata, text: str, new_id: Any) -> list[Any]:
    """Items that end the turn waiting for the client: a client tool call, a question."""
    now = datetime.now()
    if KW_CLIENT_TOOL in text:
        return [
            ClientToolCallItem(
                id=new_id("tool_call"),
                thread_id=thread.id,
                created_at=now,
                call_id=f"call_{uuid.uuid4().hex}",
                name=CLIENT_TOOL_NAME,
                arguments={"what": "the current selection"},
            )
        ]
    if KW_STRUCTURED_INPUT in text:
        return [
            StructuredInputItem(
                id=new_id("message"),
                thread_id=thread.id,
                created_at=now,
                inputs=[
                    StructuredInputMultipleChoice(
                        id="colour",
                        question="Which colour?",
                        options=[
                            StructuredInputMultipleChoiceOption(value="red"),
                            StructuredInputMultipleChoiceOption(value="blue"),
                        ],
                    ),
                    StructuredInputFreeform(id="note", question="Anything else?"),
                ],
            )
        ]
    return []


def wants_widget(text: str) -> bool:
    return KW_WIDGET in text


def wants_close(text: str) -> bool:
    return KW_CLOSE in text


async def no_events() -> AsyncIterator[ThreadStreamEvent]:
    return
    yield  # pragma: no cover  (makes this an async generator)
