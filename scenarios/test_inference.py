"""The composer's model and tool pickers (glass-box). Judgments only
(harness/probes/inference.py)."""

from __future__ import annotations

from harness.engine.expect import evidence_of
from harness.engine.offers import refusal
from harness.probes.inference import REQUESTED_MODEL, Inference
from harness.protocol.client import RecordedStream
from harness.registry import MUST, check
from harness.report.results import fail, untestable

REF = "openai-chatkit 1.6.5 chatkit/types.py InferenceOptions (tool_choice, model)"


def _refused(rec: RecordedStream) -> bool:
    return bool(refusal(rec)) or 400 <= rec.status < 500 or bool(rec.of_type("error"))


def _ev(evidence) -> Inference:
    ev: Inference | None = evidence["inference"]
    if ev is None:
        untestable("needs glass-box mode (--model-stub)")
    return ev


@check(
    id="inference.model-honoured",
    title="Glass-box: the composer's model choice reaches the model request, or is refused",
    level=MUST,
    pitfall="respond() builds the agent with a fixed model and never reads "
    "input_user_message.inference_options: the model picker does nothing.",
    fix="Pass inference_options.model to the agent's model (or refuse models you do not offer).",
    ref=REF,
    probes=["inference"],
)
def test_model(evidence) -> None:
    ev = _ev(evidence)
    if _refused(ev.model_turn):
        return
    call = ev.call_for(ev.model_calls, ev.marker)
    if call is None:
        fail("no model request for the turn was recorded", evidence=evidence_of(ev.model_turn))
    if call.model != REQUESTED_MODEL:
        fail(
            "the composer's model was silently dropped",
            expected=REQUESTED_MODEL,
            actual=str(call.model),
        )


@check(
    id="inference.tool-choice-honoured",
    title="Glass-box: the composer's tool choice reaches the model request, or is refused",
    level=MUST,
    pitfall="inference_options.tool_choice is ignored: choosing a tool in the composer changes "
    "nothing.",
    fix="Map tool_choice.id to ModelSettings(tool_choice=...) for the agent's tool.",
    ref=REF,
    probes=["inference"],
)
def test_tool_choice(evidence) -> None:
    ev = _ev(evidence)
    if ev.tool is None or ev.tool_turn is None:
        untestable("the deployment gives its model no tools")
    if _refused(ev.tool_turn):
        return
    call = ev.call_for(ev.tool_calls, f"{ev.marker}-tool")
    if call is None:
        fail("no model request for the turn was recorded", evidence=evidence_of(ev.tool_turn))
    choice = call.body.get("tool_choice") if isinstance(call.body, dict) else None
    if ev.tool not in str(choice):
        fail(
            "the composer's tool choice was silently dropped",
            expected=f"tool_choice naming {ev.tool!r}",
            actual=str(choice),
        )
