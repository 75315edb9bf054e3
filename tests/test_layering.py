"""models/ and renderer/ stay Qt-free (STYLE: the model knows nothing of Qt)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["models", "renderer", "app/cli"])
def test_package_imports_no_qt(package: str) -> None:
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6", "app") for n in names):
                offenders.append(f"{path.relative_to(REPO)}: {names}")
    if package == "app/cli":
        offenders = [o for o in offenders if "app.cli" not in o and "'app'" not in o]
    assert not offenders, offenders
