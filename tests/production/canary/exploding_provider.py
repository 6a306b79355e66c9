"""A third-party provider kind whose failures carry its key: a plugin bug, as the server meets it.

Installed into a ``serve`` subprocess the way a real package is (``install_plugin``: a module
and a ``.dist-info`` with an ``aichatflow.providers`` entry point on its ``PYTHONPATH``), so the
server finds it through the public extension point, not through a test hook. It reads its key
the way an operator configures one (``api_key_env`` names the variable) and, by its ``fails``
option, raises an exception whose args hold that key at a different moment of a request:

* ``call``: in ``stream()`` itself, before the server has a stream to answer with;
* ``iterate``: while streaming, after some content went out;
* ``close``: the stream ends with a typed error, and closing the source then raises;
* ``create``: in the factory, so the server cannot start.

This file is copied into the plugin directory as it is: it imports only ``aichatflow``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aichatflow.chat_stream import Batch, ChatStream
from aichatflow.errors import ProviderError
from aichatflow.events import StreamStart, TextDelta
from aichatflow.messages import ChatRequest

KIND = "canary-exploding"
MODULE = "aichatflow_canary_plugin"


class _Batches:
    """The provider's batches: a start and one delta, then the failure ``fails`` asks for."""

    def __init__(self, name: str, key: str, fails: str) -> None:
        self._name, self._key, self._fails = name, key, fails
        self._sent = False

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> Batch:
        if not self._sent:
            self._sent = True
            return [StreamStart(model=f"{self._name}/m", response_id="r1"), TextDelta("Hi ")]
        if self._fails == "iterate":
            raise RuntimeError(f"upstream session broke for key {self._key}", self._key)
        raise ProviderError(f"{self._name}: upstream failed", provider=self._name)

    async def aclose(self) -> None:
        if self._fails == "close":
            raise ValueError(f"could not release the connection of {self._key!r}")


class ExplodingProvider:
    def __init__(self, name: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self._key = os.environ[str(options["api_key_env"])]
        self._fails = str(options.get("fails", "iterate"))
        if self._fails == "create":
            raise ValueError(f"this key is not for this plugin: {self._key}")
        self.models = ["m"]

    def stream(self, request: ChatRequest) -> ChatStream:
        if self._fails == "call":
            raise ConnectionError(f"cannot open a session with api key {self._key}")
        batches: AsyncIterator[Batch] = _Batches(self.name, self._key, self._fails)
        return ChatStream(batches)

    async def aclose(self) -> None:
        return None


def create(name: str, options: Mapping[str, Any]) -> ExplodingProvider:
    return ExplodingProvider(name, options)


def install_plugin(directory: Path) -> Path:
    """This module as the installed package ``aichatflow-canary-plugin`` in ``directory`` (put
    it on ``PYTHONPATH``), with its ``aichatflow.providers`` entry point ``KIND``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, directory / f"{MODULE}.py")
    info = directory / f"{MODULE}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[aichatflow.providers]\n{KIND} = {MODULE}:create\n")
    return directory


__all__ = ["KIND", "ExplodingProvider", "create", "install_plugin"]
