"""Architecture rules that keep the library reusable and model files safe."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sources(*folders: str) -> dict[Path, str]:
    return {path: path.read_text() for folder in folders for path in (REPO / folder).rglob("*.py")}


def test_library_has_no_orchestration_imports():
    pattern = re.compile(r"^\s*(import|from)\s+(prefect|dvc)\b", re.MULTILINE)
    offenders = [str(path.relative_to(REPO)) for path, text in sources("synthpipe").items() if pattern.search(text)]
    assert offenders == []


def test_no_pickle_anywhere():
    pattern = re.compile(r"\b(import pickle|import joblib|torch\.load\(|cloudpickle)")
    offenders = [str(path.relative_to(REPO)) for path, text in sources("synthpipe", "tasks", "flows").items()
                 if pattern.search(text)]
    assert offenders == []


def test_every_stage_module_has_function_run_and_task():
    from tasks import STAGES

    for stage in STAGES:
        text = (REPO / "tasks" / f"{stage}.py").read_text()
        assert f"def {stage}(" in text and "def run(params: Params)" in text and f"{stage}_task = task(" in text
