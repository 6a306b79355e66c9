"""``ChatRequest`` (OpenAI shape) to the JSON body of Gemini's ``streamGenerateContent``.

What differs from the OpenAI shape, and why each rule exists:

* ``system`` and ``developer`` messages go to ``systemInstruction``: Gemini has no system role;
* roles are ``user`` and ``model``; a ``tool`` message is a *user* turn holding a
  ``functionResponse``, which must name the function. OpenAI tool messages carry only the call's
  id, so the name is looked up in the assistant turn that made the call;
* adjacent turns with the same role are merged: parallel calls are answered by several tool
  messages, and Gemini wants all their responses in the one turn after the calls;
* an assistant turn's ``reasoning_signature`` (a Gemini ``thoughtSignature`` we streamed out)
  goes back on its first ``functionCall`` part, where Gemini put it and where it checks for it on
  tool-use turns; a turn without calls carries it on its last part;
* ``arguments`` is JSON text in the OpenAI shape and an object (``args``) in Gemini's.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ...errors import RequestError
from ...messages import ChatRequest, ContentPart, Message

Part = dict[str, Any]
Content = dict[str, Any]

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def request_body(request: ChatRequest, *, include_thoughts: bool) -> dict[str, Any]:
    system: list[Part] = []
    contents: list[Content] = []
    names = _call_names(request.messages)
    for message in request.messages:
        if message.role in ("system", "developer"):
            text = message.text()
            if text:
                system.append({"text": text})
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _generation_config(request, include_thoughts)
    if config:
        body["generationConfig"] = config
    if request.tools:
        declarations = [t.function.model_dump(exclude_none=True) for t in request.tools]
        body["tools"] = [{"functionDeclarations": declarations}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _tool_choice(request.tool_choice)}
    return body


def _call_names(messages: list[Message]) -> dict[str, str]:
    """Tool-call id → function name, from every assistant turn in the history."""
    return {
        call.id: call.function.name
        for message in messages
        if message.tool_calls
        for call in message.tool_calls
    }


def _parts(message: Message, names: dict[str, str]) -> list[Part]:
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        name = names.get(call_id) or message.name
        if not name:
            raise RequestError(f"tool message {call_id!r} answers no tool call in the history")
        response = {"name": name, "response": {"content": message.text()}}
        return [{"functionResponse": response}]
    parts = _content_parts(message)
    if message.role != "assistant":
        return parts
    calls: list[Part] = [
        {"functionCall": {"name": c.function.name, "args": c.arguments_object()}}
        for c in message.tool_calls or ()
    ]
    parts += calls
    target = calls[0] if calls else parts[-1] if parts else None
    if target is not None and message.reasoning_signature:
        target["thoughtSignature"] = message.reasoning_signature
    return parts


def _content_parts(message: Message) -> list[Part]:
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    return [part for part in map(_content_part, message.content) if part]


def _content_part(part: ContentPart) -> Part:
    if part.type == "text":
        return {"text": part.text} if part.text else {}
    if part.type == "image_url":
        image = (part.model_extra or {}).get("image_url") or {}
        url = image.get("url", "") if isinstance(image, dict) else str(image)
        return {"inlineData": _data_url(url)}
    raise RequestError(f"gemini: content parts of type {part.type!r} are not supported")


def _data_url(url: str) -> dict[str, str]:
    """``data:image/png;base64,...`` → ``inlineData``; Gemini cannot fetch http(s) URLs."""
    head, comma, data = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64") and comma):
        raise RequestError("gemini: images must be base64 data: URLs")
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        raise RequestError("gemini: an image data: URL is not valid base64") from None
    return {"mimeType": head[5 : -len(";base64")], "data": data}


def _generation_config(request: ChatRequest, include_thoughts: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.token_limit is not None:
        config["maxOutputTokens"] = request.token_limit
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop is not None:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.seed is not None:
        config["seed"] = request.seed
    if include_thoughts:
        config["thinkingConfig"] = {"includeThoughts": True}
    return config


def _tool_choice(choice: Any) -> dict[str, Any]:
    """OpenAI ``tool_choice`` → ``functionCallingConfig`` (``required`` is Gemini's ``ANY``)."""
    if isinstance(choice, str) and choice in _MODES:
        return {"mode": _MODES[choice]}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise RequestError(f"gemini: unsupported tool_choice {choice!r}")


__all__ = ["request_body"]
