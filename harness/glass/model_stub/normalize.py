"""Turn either endpoint's request body into one shape: instructions + ``{role, text}`` list.

Checks compare what the deployment sent to the model, whichever API it speaks, so the
normalised form must not depend on how a message was packaged (string vs. list of parts,
``input_text`` vs. ``output_text``, Chat ``tool_calls`` vs. Responses ``function_call``).
"""

from __future__ import annotations

import json
from typing import Any

Message = dict[str, str]

# Content-part types whose payload is text the model reads.
_TEXT_KEYS = {
    "input_text": "text",
    "output_text": "text",
    "text": "text",
    "summary_text": "text",
    "reasoning_text": "text",
    "refusal": "refusal",
}


def content_text(content: Any) -> str:
    """Text of a message's content, whether a plain string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return str(content)
    pieces: list[str] = []
    for part in content:
        if isinstance(part, str):
            pieces.append(part)
            continue
        if not isinstance(part, dict):
            continue
        part_type = str(part.get("type", "text"))
        key = _TEXT_KEYS.get(part_type)
        if key is not None and isinstance(part.get(key), str):
            pieces.append(part[key])
        else:
            # Non-text parts are named so a check can still see they were sent.
            label = part.get("filename") or part.get("file_id") or part.get("image_url") or ""
            label_text = label if isinstance(label, str) else ""
            pieces.append(f"[{part_type}{': ' + label_text if label_text else ''}]")
    # Parts are kept on separate lines: ChatKit sends hidden context as its own part.
    return "\n".join(pieces)


def responses_instructions(body: dict[str, Any]) -> str | None:
    instructions = body.get("instructions")
    if instructions is None:
        return None
    if isinstance(instructions, str):
        return instructions
    # The API also accepts a list of input items as instructions.
    return "\n".join(m["text"] for m in responses_messages(instructions)) or None


def responses_messages(value: Any) -> list[Message]:
    """Normalise Responses ``input`` (a string or a list of items)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "text": value}]
    messages: list[Message] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        message = _responses_item(item)
        if message is not None:
            messages.append(message)
    return messages


def _responses_item(item: dict[str, Any]) -> Message | None:
    item_type = item.get("type") or "message"
    if item_type == "message":
        return {"role": str(item.get("role", "user")), "text": content_text(item.get("content"))}
    if item_type in {"function_call", "custom_tool_call"}:
        arguments = item.get("arguments", item.get("input", ""))
        return {"role": "assistant", "text": _call_text(item.get("name"), arguments)}
    if item_type in {"function_call_output", "custom_tool_call_output"}:
        return {"role": "tool", "text": _output_text(item.get("output"))}
    if item_type == "reasoning":
        summary = item.get("summary")
        text = content_text(summary) if isinstance(summary, list) else ""
        return {"role": "reasoning", "text": text}
    if item_type == "item_reference":
        return {"role": "reference", "text": str(item.get("id", ""))}
    # Hosted-tool items (mcp_call, web_search_call, ...): keep the type and any output.
    output = item.get("output")
    return {"role": str(item_type), "text": _output_text(output) if output is not None else ""}


def chat_split(messages: Any) -> tuple[str | None, list[Message]]:
    """Split Chat ``messages`` into instructions (system/developer) and the conversation."""
    instruction_parts: list[str] = []
    conversation: list[Message] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", "user"))
        text = content_text(message.get("content"))
        if role in {"system", "developer"}:
            instruction_parts.append(text)
            continue
        if role == "assistant":
            functions = [
                call["function"]
                for call in message.get("tool_calls") or []
                if isinstance(call, dict) and isinstance(call.get("function"), dict)
            ]
            calls = [_call_text(f.get("name"), f.get("arguments", "")) for f in functions]
            text = "\n".join([t for t in [text, *calls] if t])
        conversation.append({"role": role, "text": text})
    instructions = "\n\n".join(instruction_parts) if instruction_parts else None
    return instructions, conversation


def tool_names(tools: Any) -> list[str]:
    """A readable name per tool: the function's name, or the hosted tool's type/label."""
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
        elif isinstance(tool.get("name"), str):
            names.append(tool["name"])
        elif tool.get("type") == "mcp" and isinstance(tool.get("server_label"), str):
            names.append(f"mcp:{tool['server_label']}")
        else:
            names.append(str(tool.get("type", "unknown")))
    return names


def _call_text(name: Any, arguments: Any) -> str:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return f"function_call {name}({arguments})"


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return content_text(output)
    return json.dumps(output, ensure_ascii=False)
