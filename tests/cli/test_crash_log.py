"""Crash logs: where they go, who may read them, and what they leave out."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from mlvc.cli import handler


def _crash(argv: list[str]) -> Path:
    sys.argv = argv
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        return Path(handler._crash_log())


def test_outside_a_repository_the_crash_log_goes_to_the_private_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("MY_SECRET", "env-secret-value")
    monkeypatch.setattr(sys, "argv", sys.argv)
    log = _crash(["mlvc", "run", "--", "job", "--api-key=argv-secret-value"])
    assert log.parent == tmp_path / "state" / "mlvc" / "logs"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    text = log.read_text()
    assert "--api-key=***" in text and "RuntimeError: boom" in text
    assert "argv-secret-value" not in text
