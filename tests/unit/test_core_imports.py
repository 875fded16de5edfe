"""The core stays pure: it imports only the standard library, replog.types, replog.errors and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import replog.core

CORE_DIR = Path(replog.core.__file__).parent
ALLOWED_REPLOG = {"replog.types", "replog.errors"}
# Standard library, yet reserved for the shells.
FORBIDDEN_STDLIB = {"asyncio", "socket", "selectors", "threading", "time"}


def forbidden_imports(source: str) -> list[str]:
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"<relative {node.level}> {node.module}" if node.level else node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if name in ALLOWED_REPLOG or name == "replog.core" or name.startswith("replog.core."):
                continue
            if top in sys.stdlib_module_names and top not in FORBIDDEN_STDLIB:
                continue
            bad.append(name)
    return bad


def core_files() -> list[Path]:
    return sorted(CORE_DIR.glob("*.py"))


def test_the_core_package_has_modules() -> None:
    assert {p.name for p in core_files()} >= {"leader.py", "follower.py", "concern.py", "health.py", "progress.py"}


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_core_module_imports_only_allowed_modules(path: Path) -> None:
    assert forbidden_imports(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import msgpack",
        "import asyncio",
        "from replog.wire import codec",
        "from replog.storage.memory import MemoryLog",
        "import replog.node.master",
        "from . import leader",
    ],
)
def test_the_checker_catches_forbidden_imports(source: str) -> None:
    assert forbidden_imports(source) != []
