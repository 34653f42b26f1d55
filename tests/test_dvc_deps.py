"""dvc.yaml's deps are complete: each stage depends on every synthpipe module its code can import.

A stage runs `synthpipe stage NAME`: synthpipe/cli.py -> synthpipe/stages.py -> the modality's stages module
(synthpipe.stages.MODALITIES; one dvc.yaml serves every modality, so the union). The closure is computed with
`ast`, without importing anything: the CLI's module-level imports and those inside the functions `synthpipe stage`
runs; in a modality's stages module, its module-level imports and those inside the functions the stage's branch of
`run` reaches; in every other module reached, all its imports (module-level and inside any function). That
over-includes, which is the safe side: a missing dep is a stale output, an extra one only a rerun.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthpipe.stages import MODALITIES, STAGES
from tests.conftest import REPO, make_project

# What `synthpipe stage NAME` runs in the CLI module. Listed, not followed: build_parser names every command's
# handler, and only _stage runs.
CLI_ENTRY = ("synthpipe.cli", {"main", "build_parser", "_stage", "_fail"})
REGISTRY = "synthpipe.stages"  # picks the modality's stages module (importlib: invisible to ast)
# Beyond code: the pinned library versions change what training, sampling and the gate compute.
CONSTRAINTS_STAGES = {"train", "generate", "validate"}


def module_path(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def parse(name: str) -> ast.Module:
    return ast.parse(module_path(name).read_text(encoding="utf-8"))


def imported(nodes: list[ast.AST]) -> set[str]:
    """synthpipe modules that import statements anywhere under `nodes` name. `from package import name` imports
    the submodule if there is one, else the package (whose `__getattr__` may import more)."""
    found = set()
    for node in (sub for top in nodes for sub in ast.walk(top)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if module_path(submodule) else node.module)
    return {name for name in found if name.split(".")[0] == "synthpipe" and module_path(name)}


def module_level(tree: ast.Module) -> list[ast.AST]:
    """Statements that run on import: everything but function bodies (class bodies and decorators run)."""
    return [node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def reachable_imports(tree: ast.Module, roots: set[str], follow: bool = True) -> set[str]:
    """Module-level imports plus those inside the functions `roots` name and (`follow`), transitively, inside
    the module's own functions they name."""
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    seen, todo = set(), sorted(roots & functions.keys())  # other names: variables, or imported (module-level)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        named = {node.id for node in ast.walk(functions[name]) if isinstance(node, ast.Name)}
        todo += [other for other in named & functions.keys() if follow and other not in seen]
    return imported(module_level(tree) + [functions[name] for name in seen])


def stage_roots(tree: ast.Module, stage: str) -> set[str]:
    """The names `run(stage, params)` uses on the way to `stage`: statements outside an `if stage == ...` branch,
    plus that stage's branch."""
    run = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "run")
    names, branched = set(), False
    for statement in run.body:
        test = statement.test if isinstance(statement, ast.If) else None
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "stage":
            branched = True
            if isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == stage:
                return names | {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
        else:
            names |= {node.id for node in ast.walk(statement) if isinstance(node, ast.Name)}
    assert branched, "run() dispatches on `if stage == ...` branches"
    return names  # the stage of the statements after every branch


def closure(start: set[str], analysed: set[str]) -> set[str]:
    """`start` and every synthpipe module it can import, following all imports of each module reached but those
    `analysed` already (the entry modules, followed along the stage's path only). Importing a.b.c runs
    a/__init__.py and a/b/__init__.py first: their module-level imports are followed too."""
    full, parents, todo = set(), set(), [(name, True) for name in start]
    while todo:
        name, whole = todo.pop()
        if name in full or (not whole and name in parents):
            continue
        (full if whole else parents).add(name)
        tree = parse(name)
        if name not in analysed:
            todo += [(other, True) for other in sorted(imported([tree] if whole else module_level(tree)))]
        todo += [(".".join(name.split(".")[:i]), False) for i in range(1, name.count(".") + 1)]
    return full | parents


def stage_modules(stage: str) -> set[str]:
    """Every synthpipe module `synthpipe stage <stage>` can import, for any modality."""
    cli, roots = CLI_ENTRY
    start = {cli, REGISTRY} | reachable_imports(parse(cli), roots, follow=False) | imported([parse(REGISTRY)])
    for module in MODALITIES.values():
        tree = parse(module)
        start |= {module} | reachable_imports(tree, stage_roots(tree, stage))
    return closure(start, analysed={cli, *MODALITIES.values()})


def dvc_stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def covered(path: str, deps: list[str]) -> bool:
    """A file dep names the file; a folder dep covers every file under it."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_depends_on_every_module_its_code_imports(stage):
    deps = dvc_stages()[stage]["deps"]
    needed = sorted(str(module_path(name).relative_to(REPO)) for name in stage_modules(stage))
    assert [path for path in needed if not covered(path, deps)] == []
    if stage in CONSTRAINTS_STAGES:
        assert "constraints.txt" in deps


def test_deps_of_code_exist_and_ingest_does_not_depend_on_the_generators():
    assert covered("synthpipe/gate/metrics.py", ["synthpipe/gate"])
    assert not covered("synthpipe/gate.py", ["synthpipe/g"])
    for stage, spec in dvc_stages().items():
        for dep in spec["deps"]:
            if dep.startswith("synthpipe") or dep == "constraints.txt":
                assert (REPO / dep).exists(), f"{stage}: {dep}"
    # The analysis follows a stage's own branch: ingest and preprocess never reach the tabular models.
    for stage in ("ingest", "preprocess"):
        assert "synthpipe.tabular.noise" not in stage_modules(stage)
    assert "synthpipe.tabular.noise" in stage_modules("train")


def dvc(*args: str, cwd: Path) -> str:
    bin_dir = Path(sys.executable).parent  # so dvc.yaml's `synthpipe stage ...` finds the installed command
    # The stages must run the project's copy of the code, the one whose hashes DVC records.
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(cwd)}
    result = subprocess.run([str(bin_dir / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_editing_a_module_train_imports_makes_train_stale_and_not_what_comes_before(tmp_path):
    project = make_project(tmp_path / "project", {"train": {"model": "copula"}})  # the quickest model to fit
    dvc("repro", "train", cwd=project)  # ingest, preprocess, train
    assert yaml.safe_load(dvc("status", "train", "--json", cwd=project)) == {}
    with open(project / "synthpipe/tabular/noise.py", "a", encoding="utf-8") as module:
        module.write("# edited\n")
    # Only train is stale, for its code; the stages after it rerun once train's outputs change, which DVC only
    # learns by running it (generate also imports noise.py itself: test_each_stage_depends_on... checks that).
    stale = yaml.safe_load(dvc("status", "train", "--json", cwd=project))
    assert stale == {"train": [{"changed deps": {"synthpipe/tabular": "modified"}}]}
    would_run = [line.split("'")[1] for line in dvc("repro", "--dry", "train", cwd=project).splitlines()
                 if line.startswith("Running stage")]
    assert would_run == ["train"]
