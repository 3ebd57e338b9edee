"""scripts/run installs once, and again when setup.cfg changed (new dependencies)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of scripts/run beside a setup.cfg, with a venv whose pip and
    icapfilter only write down how they were called."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run", tmp_path / "scripts" / "run")
    (tmp_path / "setup.cfg").write_text("[metadata]\n")
    calls = tmp_path / "calls"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    _stub(bin_dir / "pip", f'echo "pip $*" >> {calls}')
    _stub(bin_dir / "icapfilter", f'echo "icapfilter $*" >> {calls}')
    python = tmp_path / "python"
    _stub(python, "exit 0")  # `-c 'import venv'` and `-m venv` succeed, doing nothing
    return python, calls


def _run(tmp_path: Path, python: Path) -> None:
    subprocess.run(["sh", str(tmp_path / "scripts" / "run"), "--listen", "127.0.0.1:1"],
                   check=True, timeout=30, env={**os.environ, "PYTHON": str(python)})


def test_run_reinstalls_only_when_setup_cfg_is_newer_than_the_last_install(tmp_path):
    python, calls = _checkout(tmp_path)
    _run(tmp_path, python)
    assert "pip install -q -e ." in calls.read_text()
    calls.unlink()
    _run(tmp_path, python)
    assert calls.read_text() == "icapfilter serve --listen 127.0.0.1:1\n"
    calls.unlink()
    marker = tmp_path / ".venv" / ".installed-run"
    os.utime(marker, (1_000_000, 1_000_000))  # setup.cfg changed since (git pull)
    _run(tmp_path, python)
    assert "pip install -q -e ." in calls.read_text()
