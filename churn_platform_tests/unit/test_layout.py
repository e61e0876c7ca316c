"""The package layout the README describes, kept true by a test (issue 13).

* Top-level ``churn_platform/*.py`` holds only the entry point and bootstrap (at most 5 files);
  everything else lives in a layer package (import-linter checks how those import each other).
* Tests share builders through ``churn_platform_tests/support/`` only: a test module never
  imports another test module or a conftest (pytest may import those twice, under two names).
"""

from __future__ import annotations

import ast
from pathlib import Path

import churn_platform
import churn_platform_tests

PACKAGE = Path(churn_platform.__file__).parent
TESTS = Path(churn_platform_tests.__file__).parent


def test_top_level_holds_only_entry_points_and_bootstrap() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 5, top
    assert {"__init__.py", "cli.py", "settings.py", "runtime.py", "errors.py"} >= set(top), top


def _imported_test_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "churn_platform_tests" or len(parts) < 2:
                continue
            if parts[1] == "support":
                continue
            if any(p == "conftest" or p.startswith("test_") for p in parts[1:]) or parts[1] in {
                "unit",
                "integration",
                "system",
            }:
                found.append(name)
    return found


def test_tests_share_builders_only_through_support() -> None:
    offenders = {
        str(path.relative_to(TESTS)): bad
        for path in sorted(TESTS.rglob("*.py"))
        if (bad := _imported_test_modules(path))
    }
    assert not offenders, (
        f"move shared helpers into churn_platform_tests/support/ and import them from there: "
        f"{offenders}"
    )
