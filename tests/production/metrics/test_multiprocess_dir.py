"""``shared_metrics``: the directory several workers share their values in, made and removed
by ``serve`` around the workers' lives; nothing for one process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aichatflow.config import MetricsSettings, Settings
from aichatflow.server.metrics.multiprocess import ENV, shared_metrics, worker_exited


def test_several_workers_get_a_private_directory_removed_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with shared_metrics(Settings(workers=2, port=8080)) as path:
        assert path is not None and os.environ[ENV] == path
        assert Path(path).is_dir() and (Path(path).stat().st_mode & 0o777) == 0o700
        (Path(path) / "gauge_livesum_4242.db").write_bytes(b"")
        (Path(path) / "counter_4242.db").write_bytes(b"")
        worker_exited(4242)  # its live gauges go, what it counted stays
        assert sorted(p.name for p in Path(path).iterdir()) == ["counter_4242.db"]
    assert ENV not in os.environ and not Path(path).exists()


@pytest.mark.parametrize(
    "settings",
    [Settings(workers=1), Settings(workers=2, port=8080, metrics=MetricsSettings(enabled=False))],
)
def test_one_process_or_metrics_off_needs_no_files(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with shared_metrics(settings) as path:
        assert path is None and ENV not in os.environ
    worker_exited(4242)  # no directory: nothing to do, no error


def test_an_operators_directory_is_used_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    with shared_metrics(Settings(workers=2, port=8080)) as path:
        assert path == str(tmp_path)
    assert os.environ[ENV] == str(tmp_path) and tmp_path.is_dir()
