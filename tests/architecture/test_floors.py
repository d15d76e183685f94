"""The apps are floors, each importing only those below it: cms (ground) ← partners ← courses ← outreach ←
provision (roof). A lower app that needs something a higher one knows offers a Wagtail hook that the higher app
registers into; it never imports upward, not even inside a function.

The test reads every app module's imports with `ast` (migrations are exempt: they are frozen history) and fails on
an import that runs up the floors unless it is in KNOWN_UPWARD, the list of those that existed when the rule was
written. The list may only shrink: an entry that no longer exists fails the test too, so it is struck off.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOORS = {"cms": 0, "partners": 1, "courses": 2, "outreach": 3, "provision": 4}

# (module file, imported module) pairs that still run up the floors, to be removed one by one.
KNOWN_UPWARD: set[tuple[str, str]] = {
}


def app_modules():
    for app in FLOORS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield app, path


def imported_modules(tree: ast.AST):
    """Every absolute import in the module, at any depth (inside functions too), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if "." in node.module:
                yield node.lineno, node.module
            else:  # `from courses import services` names courses.services
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"


def upward_imports() -> dict[tuple[str, str], int]:
    found = {}
    for app, path in app_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_modules(tree):
            top = module.split(".")[0]
            if top in FLOORS and FLOORS[top] > FLOORS[app]:
                key = (path.relative_to(ROOT).as_posix(), module)
                found.setdefault(key, line)
    return found


def test_no_new_upward_import():
    new = sorted(f"{path}:{line} imports {module}" for (path, module), line in upward_imports().items()
                 if (path, module) not in KNOWN_UPWARD)
    assert not new, ("These imports run up the floors (cms ← partners ← courses ← outreach ← provision); offer a "
                     "Wagtail hook in the lower app instead:\n" + "\n".join(new))


def test_known_upward_imports_still_exist():
    found = upward_imports()
    gone = sorted(f"{path} → {module}" for path, module in KNOWN_UPWARD if (path, module) not in found)
    assert not gone, "Strike these from KNOWN_UPWARD, they are gone (the list may only shrink):\n" + "\n".join(gone)



def test_imports_inside_functions_say_why():
    """An import of the project's own code inside a function is allowed only where it must wait for the framework
    (an app's ready(), a page model routing to its view) or defers a heavy import, and a comment on the line or
    just above says which; anything else belongs at the top of the module (or the module is on the wrong floor)."""
    unexplained = []
    for _app, path in app_modules():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if not any(name.split(".")[0] in FLOORS for name in names):
                    continue
                start = node.lineno - 1
                block_start = start
                while block_start > 0 and lines[block_start - 1].strip().startswith(("from ", "import ")):
                    block_start -= 1  # a comment above a block of imports covers the block
                explained = "#" in lines[start] or lines[block_start - 1].strip().startswith("#")
                if not explained:
                    unexplained.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {lines[start].strip()}")
    assert not unexplained, "Move these imports to the top of the module, or say why they wait:\n" + "\n".join(
        unexplained)
