"""The built package: every file under icapfilter/templates (subfolders too)
and the service files are in it, without setuptools' 'absent from the
packages configuration' warning that filled the first `scripts/run`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("icapfilter", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE")


@pytest.mark.slow
def test_the_wheel_holds_all_templates_and_service_files_without_a_warning(tmp_path):
    pytest.importorskip("setuptools")
    tree = tmp_path / "src"
    for name in SOURCES:
        source = ROOT / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, tree / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                      if source.is_dir() else {}))
    language = tree / "icapfilter" / "templates" / "xx-test"
    language.mkdir()
    (language / "blockpage.html").write_text("<p>test</p>\n")
    build = tmp_path / "build"
    # build_py is the step of every install (pip, the FreeBSD port) that copies
    # package data and warned; it needs neither the wheel package nor a network
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "from setuptools import setup; setup()", "build_py",
         "--build-lib", str(build)],
        capture_output=True, text=True, timeout=300, cwd=tree)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # setuptools < 69: "Installing 'icapfilter.templates' as data is deprecated",
    # later: "Package 'icapfilter.templates' is absent from the `packages` configuration"
    assert "'icapfilter.templates'" not in done.stdout + done.stderr
    for name in ("icapfilter/templates/blockpage.html",
                 "icapfilter/templates/ERR_ICAPFILTER_BLOCKED",
                 "icapfilter/templates/xx-test/blockpage.html",
                 "icapfilter/services/icapfilter.service.in",
                 "icapfilter/services/icapfilter.logrotate.in"):
        assert (build / name).is_file(), name
    assert not list(build.rglob("__pycache__"))
