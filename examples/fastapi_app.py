"""aichatflow inside a FastAPI app: your own routes, auth and models, aichatflow's streaming.

    .venv/bin/pip install fastapi && .venv/bin/python examples/fastapi_app.py
    curl -N http://127.0.0.1:8083/chat -H 'content-type: application/json' \
         -d '{"model": "mock/chat", "messages": [{"role": "user", "content": "Hi"}]}'

Run it with the project's venv (the system ``python`` has no aichatflow); it listens on 8083
so it runs next to ``aichatflow serve`` (8080) and the other examples; ``PORT=...`` changes it.

The registry gives every configured provider (the keyless mock always, OpenAI/DeepSeek when
their keys are set); ``create_app`` could also be mounted whole under a prefix.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from aichatflow import ChatRequest, EventStreamResponse, Settings, build_registry
from aichatflow.dialects import OpenAIStreamDialect
from aichatflow.stream import new_stream_id

registry = build_registry(Settings.load())
app = FastAPI(title="my app with aichatflow")


@app.post("/chat")
async def chat(request: ChatRequest) -> EventStreamResponse:
    """Native SSE: start, text, reasoning, tool_call, usage, then done or error."""
    return EventStreamResponse(registry.stream(request), model=request.model)


@app.post("/openai-style")
async def openai_style(request: ChatRequest) -> EventStreamResponse:
    """The same stream as OpenAI chat.completion.chunk frames."""
    stream_id = new_stream_id()
    dialect = OpenAIStreamDialect(stream_id, request.model)
    return EventStreamResponse(registry.stream(request), dialect=dialect, stream_id=stream_id)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8083")))
