"""Debian's stock e2guardian lists, fetched once for tests and benchmarks.

`apt-get download e2guardian` into a cache folder ($ICAPFILTER_TEST_CACHE or
~/.cache/icapfilter-tests), `dpkg -x` it there, and hand back the path of
`etc/e2guardian/lists`. Tests skip (with the reason) only when apt-get or
dpkg is not available at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PACKAGE = "e2guardian"


class ListsUnavailable(RuntimeError):
    """The stock lists cannot be obtained on this machine."""


def cache_dir() -> Path:
    env = os.environ.get("ICAPFILTER_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "icapfilter-tests"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def e2g_lists_dir() -> Path:
    """Path of the extracted `etc/e2guardian/lists`, downloading if needed."""
    root = cache_dir() / "e2guardian"
    lists = root / "x" / "etc" / "e2guardian" / "lists"
    if (lists / "weightedphraselist").is_file():
        return lists
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise ListsUnavailable(f"{tool} not found; cannot fetch Debian's {PACKAGE} lists")
    root.mkdir(parents=True, exist_ok=True)
    debs = sorted(root.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        res = _run(["apt-get", "download", PACKAGE], root)
        if res.returncode != 0:
            _run(["apt-get", "update"], root)
            res = _run(["apt-get", "download", PACKAGE], root)
        debs = sorted(root.glob(f"{PACKAGE}_*.deb"))
        if res.returncode != 0 or not debs:
            raise ListsUnavailable(f"apt-get download {PACKAGE} failed: {res.stderr.strip()}")
    tmp = root / "x.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    res = _run(["dpkg", "-x", str(debs[-1]), str(tmp)], root)
    if res.returncode != 0:
        raise ListsUnavailable(f"dpkg -x failed: {res.stderr.strip()}")
    shutil.rmtree(root / "x", ignore_errors=True)
    tmp.rename(root / "x")
    return lists


def english_phrase_files(lists: Path) -> list[Path]:
    """The English phrase lists (no language-specific folders or suffixes)."""
    languages = (
        "chinese", "danish", "dutch", "french", "german", "italian", "japanese", "malay",
        "norwegian", "polish", "portuguese", "russian", "spanish", "swedish", "ukenglish",
    )  # fmt: skip
    out = []
    for f in sorted((lists / "phraselists").rglob("*")):
        if not f.is_file():
            continue
        rel = str(f.relative_to(lists / "phraselists")).lower()
        if any(lang in rel for lang in languages):
            continue
        out.append(f)
    return out
