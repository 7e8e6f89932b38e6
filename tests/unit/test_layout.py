"""The package's architecture: layers without cycles, subpackage contracts, tests that mirror modules, documented paths.

The layers are read from the import-linter contract in ``pyproject.toml`` (one source), checked
with grimp on the real import graph (every import, including those inside functions), and the
checker is shown to catch an upward import by adding one to a copy of the graph.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

import retool

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "retool"
TESTS = ROOT / "tests" / "unit"
ALIASES = {"retool.naive_sandbox"}  # one-line modules kept for documented paths


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def _layers() -> list[tuple[str, ...]]:
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    return [tuple(m.strip() for m in layer.split("|")) for layer in contract["layers"]]


def _grimp_layers() -> list[grimp.Layer]:
    return [grimp.Layer(*mods, independent=True) for mods in _layers()]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("retool", cache_dir=None)


def _area(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _area_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _area(module), _area(imported)
            if a != b and "retool" not in (a, b):
                edges.setdefault(a, set()).add(b)
    return edges


def _depth(edges: dict[str, set[str]]) -> int:
    memo: dict[str, int] = {}

    def depth(area: str, path: tuple[str, ...] = ()) -> int:
        if area in path:
            raise AssertionError(f"import cycle between areas: {' -> '.join((*path, area))}")
        if area not in memo:
            memo[area] = 1 + max((depth(b, (*path, area)) for b in edges.get(area, ())), default=0)
        return memo[area]

    return max(depth(a) for a in {*edges, *(b for bs in edges.values() for b in bs)})


def test_every_area_of_the_package_is_in_exactly_one_layer() -> None:
    listed = [m for layer in _layers() for m in layer]
    areas = {f"retool.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    areas |= {f"retool.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__" and f"retool.{p.stem}" not in ALIASES}
    assert sorted(listed) == sorted(set(listed)) and set(listed) == areas


def test_no_lower_layer_imports_a_higher_one(graph: grimp.ImportGraph) -> None:
    illegal = graph.find_illegal_dependencies_for_layers(layers=_grimp_layers())
    assert not illegal, [f"{d.importer} -> {d.imported}: {d.routes}" for d in illegal]


def test_the_layer_check_catches_an_upward_import(graph: grimp.ImportGraph) -> None:
    broken = graph.copy() if hasattr(graph, "copy") else grimp.build_graph("retool", cache_dir=None)
    broken.add_import(importer="retool.text.grammar", imported="retool.cli.dispatch")
    illegal = broken.find_illegal_dependencies_for_layers(layers=_grimp_layers())
    assert {(d.importer, d.imported) for d in illegal} >= {("retool.text", "retool.cli")}


def test_the_area_graph_has_no_cycle_and_at_most_six_layers(graph: grimp.ImportGraph) -> None:
    assert _depth(_area_edges(graph)) <= 6 and len(_layers()) <= 6


def test_the_depth_check_catches_a_cycle(graph: grimp.ImportGraph) -> None:
    edges = _area_edges(graph)
    edges.setdefault("retool.text", set()).add("retool.rollout")
    with pytest.raises(AssertionError, match="import cycle"):
        _depth(edges)


def test_no_two_modules_import_each_other_even_inside_functions(graph: grimp.ImportGraph) -> None:
    cycles = []
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert not cycles


def test_lint_imports_keeps_every_contract() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (the test extra brings it)")
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in proc.stdout


def _subpackages() -> list[str]:
    return ["retool"] + [m.name for m in pkgutil.walk_packages(retool.__path__, "retool.") if m.ispkg]


@pytest.mark.parametrize("name", _subpackages())
def test_each_subpackage_states_its_contract_and_exports(name: str) -> None:
    package = importlib.import_module(name)
    assert (package.__doc__ or "").strip().count("\n") >= 2, f"{name}: the __init__ docstring should state the contract"
    assert getattr(package, "__all__", None), f"{name} has no __all__"


@pytest.mark.parametrize("name", _subpackages())
def test_every_exported_name_resolves_and_is_not_shadowed_by_a_submodule(name: str) -> None:
    package = importlib.import_module(name)
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)} - {"__main__"}
    for export in package.__all__:
        for sub in submodules:  # import every sibling first: a submodule of the same name would then shadow
            importlib.import_module(f"{name}.{sub}")
        value = getattr(package, export)
        assert not inspect.ismodule(value), f"{name}.{export} resolves to a module, not the exported object"


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    import retool.text

    with pytest.raises(AttributeError, match=r"'retool.text' has no attribute 'nope'"):
        retool.text.nope  # noqa: B018


def test_importing_one_text_module_imports_no_torch_and_no_sibling() -> None:
    code = ("import sys; import retool.text.grammar; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('retool.text.masking')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def _public_modules() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py") or ".".join(path.relative_to(ROOT).with_suffix("").parts) in ALIASES:
            continue
        tree = ast.parse(path.read_text())
        if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_")
               for n in tree.body):
            out.append(path)
    return out


@pytest.mark.parametrize("path", _public_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_with_public_functions_has_its_test_file(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    folder = TESTS / rel.parent
    test_file = folder / f"test_{rel.stem}.py"
    note = folder / "README.md"
    assert test_file.exists() or (note.exists() and f"`{rel.name}`" in note.read_text()), (
        f"retool/{rel} has no {test_file.relative_to(ROOT)} (or a line in {note.relative_to(ROOT)} naming `{rel.name}`)")


def test_every_test_folder_mirrors_a_package() -> None:
    for folder in TESTS.rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__":
            assert (PACKAGE / folder.relative_to(TESTS)).is_dir(), f"{folder} mirrors no package"


# -- the documented entry points -------------------------------------------------------------------


def test_the_slime_generate_path_is_the_integration() -> None:
    from retool.integrations.slime import generate
    from retool.rollout import generate as documented

    assert documented is generate and inspect.iscoroutinefunction(generate)
    # slime/miles pass ``evaluation=`` only to a generate whose signature names it
    assert list(inspect.signature(generate).parameters) == ["args", "sample", "sampling_params", "evaluation"]
    assert inspect.signature(generate).parameters["evaluation"].default is False


def test_the_slime_reward_path_is_an_async_reward_func() -> None:
    from retool.integrations.slime import reward_func as via_integration
    from retool.reward import reward_func

    assert reward_func is via_integration and inspect.iscoroutinefunction(reward_func)


@pytest.mark.parametrize("spec", ["retool.naive_sandbox:NaiveSandbox", "retool.sandbox.naive:NaiveSandbox",
                                  "retool.sandbox:PythonSandbox", "retool.cli:main", "retool.reward:score",
                                  "retool.integrations.slime:generate", "retool.rollout:generate"])
def test_each_documented_spec_loads(spec: str) -> None:
    assert callable(retool.load_callable(spec, what="spec"))


def test_the_naive_alias_is_the_same_class() -> None:
    from retool.naive_sandbox import NaiveSandbox
    from retool.sandbox.naive import NaiveSandbox as moved

    assert NaiveSandbox is moved


@pytest.mark.parametrize(("spec", "message"), [
    ("no_colon", "must look like"), ("retool.nope:x", "cannot import module 'retool.nope'"),
    ("retool.reward:nope", "has no attribute 'nope'"), ("retool.sandbox.config:TOOL_CONFIGS", "not callable"),
])
def test_a_bad_spec_is_a_value_error_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retool.load_callable(spec, what="--thing")


def test_the_console_script_is_the_cli_main() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["scripts"]["retool"] == "retool.cli:main"
