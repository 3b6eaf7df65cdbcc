"""The assistant's app tools: the vote widget and the client's selection, as the model calls them.

A real ChatKit app shows a widget or asks the client for something when *its model* picks the
app's tool, not on a keyword. These tools do what the keyword path (features.py) does, through
the SDK's own helpers: ``AgentContext.stream_widget`` for the vote widget, and
``AgentContext.client_tool_call`` with the agent stopping at that tool, so the turn ends with
a pending client_tool_call item. With them, the harness's tool tour (glass-box mode: the
model stub calls every tool the deployment offered) reaches the same features on this server
run as a plain deployment, with no keyword triggers.
"""

from __future__ import annotations

from collections.abc import Callable

from agents import FunctionTool, RunContextWrapper, StopAtTools, function_tool
from chatkit.agents import AgentContext, ClientToolCall
from chatkit.types import ClientToolCallItem, ThreadItemDoneEvent, ThreadStreamEvent

from . import features
from .context import RequestContext

Ctx = RunContextWrapper[AgentContext[RequestContext]]


@function_tool
async def show_vote_widget(ctx: Ctx) -> str:
    """Show the user the vote widget: a card counting votes, with a Vote button."""
    await ctx.context.stream_widget(features.vote_widget(0), copy_text="Votes: 0")
    return "The vote widget is shown: Votes: 0."


@function_tool(name_override=features.CLIENT_TOOL_NAME)
def get_selection(ctx: Ctx, what: str) -> str:
    """Ask the user's browser what is selected on the page (the client runs this tool)."""
    ctx.context.client_tool_call = ClientToolCall(
        name=features.CLIENT_TOOL_NAME, arguments={"what": what}
    )
    return "Asked the client for the selection."


APP_TOOLS: list[FunctionTool] = [show_vote_widget, get_selection]
# The turn ends at the client tool: the client runs it and sends its output back
# (threads.add_client_tool_output), and only then does the agent continue.
STOP_AT_CLIENT_TOOL = StopAtTools(stop_at_tool_names=[features.CLIENT_TOOL_NAME])


def with_store_id(event: ThreadStreamEvent, new_id: Callable[[], str]) -> ThreadStreamEvent:
    """A client tool call the model made, under an id of the store's.

    stream_agent_response names the item after the model's function-call item, which the
    Agents SDK's Chat Completions path always calls ``__fake_id__``: every such call would share
    one id across threads.
    """
    if isinstance(event, ThreadItemDoneEvent) and isinstance(event.item, ClientToolCallItem):
        return event.model_copy(update={"item": event.item.model_copy(update={"id": new_id()})})
    return event
