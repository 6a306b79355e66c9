"""Provider kinds from other packages, through the ``aichatflow.providers`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import aichatflow.providers as providers
from aichatflow import MockProvider


def test_plugin_kinds_come_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package adds a provider kind with an ``aichatflow.providers`` entry point."""
    plugin = EntryPoint(name="echo-plugin", value="aichatflow.providers.mock:create", group="x")

    def fake_entry_points(*, group: str, name: str | None = None) -> list[EntryPoint]:
        assert group == providers.ENTRY_POINT_GROUP
        return [plugin] if name in (None, "echo-plugin") else []

    monkeypatch.setattr(providers, "entry_points", fake_entry_points)
    assert "echo-plugin" in providers.known_kinds()
    provider = providers.create_provider("p", {"kind": "echo-plugin"})
    assert provider.name == "p" and isinstance(provider, MockProvider)
