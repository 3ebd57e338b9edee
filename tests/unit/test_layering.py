"""The layers stay apart: the protocol package is sans-IO and knows nothing of
the rest, and only the adapter package talks to Redis."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "icapfilter"
IO_MODULES = {"socket", "selectors", "select", "threading", "asyncio", "ssl", "multiprocessing"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module)
            elif node.level > 1 or (node.level == 1 and path.parent.name != "icap"):
                found.add("icapfilter." + ("." * node.level) + (node.module or ""))
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "icap").glob("*.py")), ids=lambda p: p.name)
def test_the_protocol_package_imports_no_io_and_no_other_icapfilter_package(path: Path) -> None:
    names = _imports(path)
    assert not {n.split(".")[0] for n in names} & IO_MODULES, names
    assert not [n for n in names if n.startswith("icapfilter")], names


def test_only_the_adapter_package_imports_redis() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "redisstore" not in path.parts
        and any(n == "redis" or n.startswith("redis.") for n in _imports(path))
    ]
    assert offenders == []


def test_no_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
