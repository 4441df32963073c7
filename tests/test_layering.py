"""The package's layers: every import inside jepawatch points down (or within its own layer), never up.

Imports inside functions count (an import hidden in a function is still a dependency); imports under
`if TYPE_CHECKING:` do not (they are annotations only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import jepawatch

PACKAGE = Path(jepawatch.__file__).parent

# Lowest first; each layer names whole packages (or top-level modules), none split across two.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundations", ("jepawatch._version", "jepawatch.errors", "jepawatch.atomic", "jepawatch.locking",
                     "jepawatch.bundle_checks", "jepawatch.devices", "jepawatch.allocator", "jepawatch.onnx_runtime",
                     "jepawatch.state_file", "jepawatch.feedback")),
    ("networks and data", ("jepawatch.model", "jepawatch.data", "jepawatch.adapters")),
    ("training: loop, losses, schedules, checkpoints", ("jepawatch.training",)),
    ("model kinds and a run's configuration", ("jepawatch.kinds", "jepawatch.run_config")),
    ("bundles", ("jepawatch.bundle",)),
    ("scoring, live, export, evaluation", (
        "jepawatch.scoring", "jepawatch.live", "jepawatch.export", "jepawatch.evaluation", "jepawatch.demo",
        "jepawatch.alerts", "jepawatch.report")),
    ("jobs that write bundles: train, transfer to another system", ("jepawatch.jobs",)),
    ("application: settings resolved, one module per verb", ("jepawatch.config_sources", "jepawatch.app")),
    ("public API", ("jepawatch.api", "jepawatch.spark", "jepawatch")),
    ("CLI", ("jepawatch.cli", "jepawatch.__main__")),
]


def test_every_layer_names_whole_packages():
    """No package is split across two layers: a layer's entries are packages or top-level modules."""
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            assert prefix.count(".") <= 1, f"{prefix} is part of a package: name the whole package"


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def _root_reexports() -> dict[str, str]:
    """Names the package root imports eagerly (`__version__`, the errors) -> the module defining them: a
    `from jepawatch import __version__` depends on that module, not on the API the root exposes lazily."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    return {alias.asname or alias.name: node.module for node in tree.body
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jepawatch.") for alias in node.names}


def imports_of(path: Path) -> set[str]:
    """The jepawatch modules `path` imports (a `from jepawatch import x` of a submodule names the submodule)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                if base == "jepawatch" and alias.name in _root_reexports():
                    found.add(_root_reexports()[alias.name])
                    continue
                candidate = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                    (PACKAGE.parent / Path(*candidate.split(".")) / "__init__.py").exists()
                found.add(candidate if is_module else base)
    return {name for name in found if name == "jepawatch" or name.startswith("jepawatch.")}


def edges() -> list[tuple[str, str]]:
    return [(module_name(path), target) for path in sorted(PACKAGE.rglob("*.py")) for target in sorted(imports_of(path))]


def test_no_import_runs_up_a_layer():
    upward = [f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for source, target in edges() if layer_of(target) > layer_of(source)]
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def test_the_walker_sees_imports_inside_functions_and_through_the_root(tmp_path):
    # the check must not be blind to the way the old scorer hid its import of the train job
    source = PACKAGE / "scoring" / "scorer.py"
    assert "jepawatch.bundle" in imports_of(source)
    hidden = PACKAGE / "_layering_probe.py"
    hidden.write_text("from jepawatch import __version__, DataError\n\ndef f():\n    from jepawatch.cli import output\n"
                      "    from jepawatch import Monitor\n")
    try:
        assert imports_of(hidden) == {"jepawatch.cli.output", "jepawatch._version", "jepawatch.errors", "jepawatch"}
    finally:
        hidden.unlink()


def private_imports() -> list[str]:
    """`from jepawatch.x import _name` across modules (a private name is its module's own)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jepawatch"):
                found += [f"{module_name(path)} imports {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_private_name_is_imported_across_modules():
    assert not private_imports(), "\n".join(private_imports())


def test_model_is_networks_only():
    """`jepawatch/model/` imports nothing of jepawatch outside itself (no I/O, no CLI, no training)."""
    outside = [(s, t) for s, t in edges() if s.startswith("jepawatch.model") and not t.startswith("jepawatch.model")]
    assert not outside, outside


def test_scoring_does_not_import_scikit_learn():
    """`score` and `watch` start often (cron, one process per file): scikit-learn costs them a second
    of start-up, and only calibrate and evaluate need it."""
    import subprocess
    import sys

    code = ("import sys, jepawatch.app.score, jepawatch.app.watch, jepawatch.cli.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_bundle_shape_check_does_not_import_sympy():
    """Loading a bundle builds its model on the meta device to check the weights' shapes first; a
    random normal draw there makes PyTorch import sympy for its meta kernel (0.3–0.55 s of every
    `score` start)."""
    import subprocess
    import sys

    code = ("import sys, torch; from jepawatch.model.config import MTSJEPAConfig; from jepawatch.model.mts_jepa import MTSJEPA\n"
            "with torch.device('meta'):\n"
            "    model = MTSJEPA(MTSJEPAConfig(n_channels=3, window=20, n_patches=4, d_model=16, codebook_size=8, "
            "encoder_heads=2, predictor_heads=2, predictor_hidden=16))\n"
            "assert model.codebook.prototypes.is_meta\n"
            "print(sorted(m for m in sys.modules if m == 'sympy'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_functions_are_short():
    """A command checks its arguments and calls the library: no function body in jepawatch/cli/ is over
    40 lines after its docstring."""
    long = []
    for path in sorted((PACKAGE / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                if body and body[-1].end_lineno - body[0].lineno + 1 > 40:
                    long.append(f"{path.name}: {node.name} ({body[-1].end_lineno - body[0].lineno + 1} lines)")
    assert not long, long
