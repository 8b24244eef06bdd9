"""Import direction, by a static scan of every module: the layers only ever import downwards.

`core` never imports `training` or `kyzel_tui`; `grammars` never imports `core`'s callers either
(`training`, `kyzel_tui`); `training` never imports `kyzel_tui`; and none of `core`, `grammars`,
`training` imports Textual (they run without a terminal). Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("training", "kyzel_tui", "textual"),
    "grammars": ("training", "kyzel_tui", "textual"),
    "training": ("kyzel_tui", "textual"),
}


def imported_names(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.append((node.lineno, base))
    return names


def violations(root: Path) -> list[str]:
    """One line per import that goes against `FORBIDDEN`, as `file:line: layer imports name`."""
    found: list[str] = []
    for layer, banned in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*.py")):
            package = ".".join(path.relative_to(root).parent.parts)
            for line, name in imported_names(path, package):
                top = name.split(".")[0]
                if top in banned:
                    where = path.relative_to(root)
                    found.append(f"{where}:{line}: {layer} imports {name}")
    return found


def test_layers_import_only_downwards() -> None:
    assert violations(REPO) == []


def test_every_layer_is_scanned() -> None:
    for layer in FORBIDDEN:
        assert len(list((REPO / layer).rglob("*.py"))) > 3, layer


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    # The same scan on a small tree that breaks each rule once, in each way of writing it.
    files = {
        "core/model/late.py": "def f():\n    from kyzel_tui.app import KyzelApp\n",
        "core/a.py": "import textual.widgets\n",
        "core/b.py": "from ..training import registry\n",
        "grammars/c.py": "import training.settings as s\n",
        "training/d.py": "from textual import work\n",
        "training/ok.py": "from core.paths import data_home\nimport grammars.turn\n",
        "kyzel_tui/e.py": "import training\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tmp_path) == [
        "core/a.py:1: core imports textual.widgets",
        "core/b.py:1: core imports training",
        "core/model/late.py:2: core imports kyzel_tui.app",
        "grammars/c.py:1: grammars imports training.settings",
        "training/d.py:1: training imports textual",
    ]
