"""The ready server: ``create_app`` and a uvicorn runner with a stream-aware shutdown."""

from .app import create_app
from .runner import Server, run, server_config, tune_gc

__all__ = ["Server", "create_app", "run", "server_config", "tune_gc"]
