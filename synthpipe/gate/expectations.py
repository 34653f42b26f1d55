"""What the real data promises, as a Great Expectations 1.x suite, checked against synthetic data.

The suite is derived from real train data as plain specs (expectation class name + kwargs), so it
can be written to the report and versioned; Great Expectations is imported only to run it.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from synthpipe.config import ValidateConfig
from synthpipe.gate.datadocs import make_offline
from synthpipe.io import atomic_dir
from synthpipe.schema import ColumnKind


def expectation_specs(real: pd.DataFrame, kinds: dict[str, ColumnKind], rows: int, cfg: ValidateConfig) -> list[dict]:
    """Expectations for synthetic data: same columns and dtypes, values in range or in the known set, nulls alike."""
    specs = [
        _spec("ExpectTableColumnsToMatchSet", column_set=list(real.columns), exact_match=True),
        _spec("ExpectTableRowCountToBeBetween", min_value=rows, max_value=rows),
    ]
    for name, kind in kinds.items():
        column = real[name]
        specs.append(_spec("ExpectColumnValuesToBeOfType", column=name, type_=str(column.dtype)))
        null_fraction = float(column.isna().mean())
        allowed_nulls = null_fraction + cfg.null_fraction_tolerance if null_fraction > 0 else 0.0
        specs.append(_spec("ExpectColumnValuesToNotBeNull", column=name, mostly=round(max(0.0, 1 - allowed_nulls), 6)))
        if kind in ("continuous", "discrete"):
            low, high = float(column.min()), float(column.max())
            slack = cfg.range_tolerance * (high - low)
            specs.append(_spec("ExpectColumnValuesToBeBetween", column=name, min_value=low - slack,
                               max_value=high + slack, mostly=_range_mostly(int(column.notna().sum()))))
        elif kind in ("categorical", "boolean"):
            values = column.dropna().unique().tolist()
            specs.append(_spec("ExpectColumnValuesToBeInSet", column=name, value_set=values))
    return specs


def _range_mostly(observed: int) -> float:
    """A new draw from the real population falls outside the range of n real values with probability
    2 / (n + 1): allow three times that share outside (at most 10%), so a faithful generator that extrapolates
    a little passes and one that leaves the range for real fails."""
    return round(1 - min(0.1, 6 / (observed + 1)), 6)


def _spec(expectation: str, **kwargs) -> dict:
    return {"expectation": expectation, "kwargs": kwargs}


def run_expectations(specs: list[dict], df: pd.DataFrame, context_dir: Path | None = None, docs_dir: Path | None = None,
                     suite_name: str = "synthetic") -> list[dict]:
    """Validate `df` with a real Great Expectations run; one result dict per expectation.

    With `context_dir`, the run happens in a file-mode GX project written there whole (suite, validation
    definition, checkpoint), so `gx.get_context(mode="file", context_root_dir=...)` can rerun the suite on
    any data later; with `docs_dir`, the Data Docs site of this run is built there, made to render offline.
    Without, nothing is written.
    """
    gx = _quiet_gx()
    if context_dir is None:
        return _validate(gx.get_context(mode="ephemeral"), specs, df, suite_name, build_docs=False)
    with atomic_dir(context_dir) as root:
        results = _validate(gx.get_context(mode="file", context_root_dir=str(root)), specs, df, suite_name,
                            build_docs=docs_dir is not None)
        if docs_dir is not None:
            with atomic_dir(docs_dir) as docs:
                shutil.copytree(root / "uncommitted" / "data_docs" / "local_site", docs, dirs_exist_ok=True)
                make_offline(docs)
        # GX keeps run results and docs under uncommitted/: they are in the report and docs folders already.
        shutil.rmtree(root / "uncommitted")
    return results


def _quiet_gx():
    import great_expectations as gx

    # GX sets INFO on some of its own loggers; its notes on temporary folders are noise in stage output.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def _validate(context, specs: list[dict], df: pd.DataFrame, suite_name: str, build_docs: bool) -> list[dict]:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("synthpipe").add_dataframe_asset("rows")
    batch_definition = batch.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for spec in specs:
        suite.add_expectation(getattr(gxe, spec["expectation"])(**spec["kwargs"]))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite))
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if build_docs else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=suite_name, validation_definitions=[definition], actions=actions))
    outcome = checkpoint.run(batch_parameters={"dataframe": df})
    (suite_result,) = outcome.run_results.values()
    return [_result(item) for item in suite_result.results]


def _result(item) -> dict:
    result = item.result or {}
    return {
        "expectation": item.expectation_config.type,
        "column": item.expectation_config.kwargs.get("column"),
        "success": bool(item.success),
        "observed": result.get("observed_value"),
        "unexpected_percent": result.get("unexpected_percent"),
        "unexpected_examples": [str(v) for v in (result.get("partial_unexpected_list") or [])[:5]],
    }
