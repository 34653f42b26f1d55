"""What the real data promises, as a Great Expectations 1.x suite, checked against synthetic data.

The suite is derived from real train data as plain specs (expectation class name + kwargs), so it
can be written to the report and versioned; Great Expectations is imported only to run it.
"""

from __future__ import annotations

import logging

import pandas as pd

from synthpipe.config import ValidateConfig
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
            specs.append(_spec("ExpectColumnValuesToBeBetween", column=name, min_value=low - slack, max_value=high + slack))
        elif kind in ("categorical", "boolean"):
            values = column.dropna().unique().tolist()
            specs.append(_spec("ExpectColumnValuesToBeInSet", column=name, value_set=values))
    return specs


def _spec(expectation: str, **kwargs) -> dict:
    return {"expectation": expectation, "kwargs": kwargs}


def run_expectations(specs: list[dict], df: pd.DataFrame, suite_name: str = "synthetic") -> list[dict]:
    """Validate `df` with a real Great Expectations run; one result dict per expectation."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX sets INFO on some of its own loggers; its notes on temporary folders are noise in stage output.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("synthpipe").add_dataframe_asset("rows")
    batch_definition = batch.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for spec in specs:
        suite.add_expectation(getattr(gxe, spec["expectation"])(**spec["kwargs"]))
    definition = gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    outcome = context.validation_definitions.add(definition).run(batch_parameters={"dataframe": df})
    return [_result(item) for item in outcome.results]


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
