"""Architecture rules that keep the library reusable and model files safe."""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sources(*folders: str) -> dict[Path, str]:
    return {path: path.read_text() for folder in folders for path in (REPO / folder).rglob("*.py")}


def test_library_has_no_orchestration_imports():
    pattern = re.compile(r"^\s*(import|from)\s+(prefect|dvc)\b", re.MULTILINE)
    offenders = [str(path.relative_to(REPO)) for path, text in sources("synthpipe").items() if pattern.search(text)]
    assert offenders == []


# Ways to run code hidden in a file or a string: pickle and its relatives, torch.load without weights_only=True,
# NumPy/pandas pickle loading, and eval/exec (a method such as `module.eval()` is not the builtin).
UNSAFE = re.compile(r"\bimport pickle\b|\bfrom pickle\b|\bpickle\.\w+\(|\bjoblib\b|\bcloudpickle\b|\bdill\b|\bshelve\b"
                    r"|\bmarshal\.loads?\(|read_pickle\(|to_pickle\(|allow_pickle\s*=\s*True"
                    r"|torch\.load\((?![^)]*weights_only\s*=\s*True)|(?<![\w.])(eval|exec)\(")


def test_no_pickle_eval_or_exec_anywhere():
    offenders = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                 for path, text in sources("synthpipe", "tasks", "flows").items()
                 for number, line in enumerate(text.splitlines(), 1) if UNSAFE.search(line)]
    assert offenders == []


def test_the_unsafe_pattern_catches_what_it_should():
    caught = ["import pickle", "import joblib", "x = torch.load(path)", "torch.load(f, map_location='cpu')",
              "eval(text)", "exec(code)", "np.load(p, allow_pickle=True)", "pd.read_pickle(p)", "import dill",
              "pickle.loads(blob)"]
    allowed = ["torch.load(f, weights_only=True)", "model.eval()", "generator.eval()", "evaluate(x)",
               "plain JSON: no pickle."]
    assert [line for line in caught if not UNSAFE.search(line)] == []
    assert [line for line in allowed if UNSAFE.search(line)] == []


def test_every_stage_module_wraps_the_registry_as_a_task():
    from synthpipe.stages import STAGES

    for stage in STAGES:
        text = (REPO / "tasks" / f"{stage}.py").read_text()
        assert f'run_stage("{stage}", params)' in text and f"{stage}_task = task(" in text


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path) -> set[str]:
    """synthpipe modules a module imports when it is imported (not inside functions): `from a import b` is the
    submodule a.b when there is one, else a."""
    modules = {module_name(p) for p in (REPO / "synthpipe").rglob("*.py")}
    found = set()
    for node in ast.parse(path.read_text()).body:
        nodes = [node] if not isinstance(node, ast.If | ast.Try) else list(ast.walk(node))  # e.g. TYPE_CHECKING
        for sub in nodes:
            if isinstance(sub, ast.Import):
                found |= {alias.name for alias in sub.names}
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found |= {f"{sub.module}.{a.name}" if f"{sub.module}.{a.name}" in modules else sub.module
                          for a in sub.names}
    return found & modules


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return cycles


def test_no_import_cycles_between_synthpipe_modules():
    graph = {module_name(path): module_level_imports(path) for path in (REPO / "synthpipe").rglob("*.py")}
    assert graph["synthpipe.cli"] >= {"synthpipe.config", "synthpipe.stages"}  # the graph is read
    assert import_cycles(graph) == []
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


MODALITY_BRANCH = re.compile(r"""modality\b["')\]]*\s*[!=]=|[!=]=\s*["'](table|image)["']""")
REGISTRY_FILES = {"synthpipe/stages.py", "synthpipe/config.py"}  # the one place that picks, and its validation


def test_modalities_are_told_apart_only_in_the_registry():
    offenders = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                 for path, text in sources("synthpipe", "tasks", "flows").items()
                 if str(path.relative_to(REPO)) not in REGISTRY_FILES
                 for number, line in enumerate(text.splitlines(), 1) if MODALITY_BRANCH.search(line)]
    assert offenders == []
    caught = ['if params.data.modality == "image":', "x.get('modality') == 'image'", 'if modality != "table":']
    assert [line for line in caught if not MODALITY_BRANCH.search(line)] == []


def test_the_image_package_does_not_import_the_tabular_one():
    offenders = [str(path.relative_to(REPO)) for path, text in sources("synthpipe/images").items()
                 if re.search(r"^\s*(from|import)\s+synthpipe\.tabular\b", text, re.MULTILINE)]
    assert offenders == []
