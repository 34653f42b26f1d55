"""The gate's one record of a thresholded figure, for every modality.

A check is {check, value, limit, passed, reason}: passed is None when the figure was not computed (value None)
or is reported with no limit. quality.json's `checks` and `reasons`, the checks table of summary.md, the run
summary's gate line and the Prefect artifact table are all made from these records.
"""

from __future__ import annotations

from collections.abc import Callable

RESULT = {True: "pass", False: "FAIL"}


def check(name: str, value: float | None, op: str, limit: float | None,
          reason: Callable[[float, float], str], why: str | None = None) -> dict:
    """`value` against `limit` (op "<=" or ">="); `reason(value, limit)` says in plain words why it failed, `why`
    why the figure could not be computed when `value` is None."""
    if value is None or limit is None:
        record = {"check": name, "value": None if value is None else float(value),
                  "limit": None if limit is None else f"{op} {limit}", "passed": None, "reason": None}
        return record | ({"not_computed": why or "not computed"} if value is None else {})
    passed = bool(value <= limit) if op == "<=" else bool(value >= limit)  # NaN fails either way
    return {"check": name, "value": float(value), "limit": f"{op} {limit}", "passed": passed,
            "reason": None if passed else reason(float(value), limit)}


def expectations_check(results: list[dict], limit: int) -> dict:
    """Failed Great Expectations results against the number allowed, the first few named in the reason."""
    failed = [item for item in results if not item["success"]]
    listed = "; ".join(describe_failure(item) for item in failed[:8])
    return check("expectations failed", len(failed), "<=", limit,
                 lambda v, t: f"{v:.0f} expectations failed (allowed {t}): {listed}")


def describe_failure(item: dict) -> str:
    where = f"column '{item['column']}'" if item["column"] else "table"
    name = item["expectation"].removeprefix("expect_").replace("_", " ")
    examples = list(dict.fromkeys(item["unexpected_examples"]))[:3]
    detail = f", e.g. {', '.join(examples)}" if examples else ""
    observed = f" (observed {item['observed']})" if item["observed"] is not None and not detail else ""
    return f"{where}: {name}{observed}{detail}"


def verdict(report: dict) -> None:
    """The report's reasons (each failed check's) and whether it passed, from its checks."""
    report["reasons"] = [c["reason"] for c in report["checks"] if c["passed"] is False]
    report["passed"] = not report["reasons"]


def result(c: dict) -> str:
    if c["passed"] is None:
        return f"not computed: {c.get('not_computed', 'no value')}" if c["value"] is None else "reported"
    return RESULT[c["passed"]]


def check_rows(report: dict) -> list[dict]:
    """The checks as table rows (a Prefect table artifact)."""
    return [{"check": c["check"], "value": c["value"], "threshold": c["limit"], "result": result(c)}
            for c in report["checks"]]


def checks_markdown(report: dict) -> list[str]:
    """The checks as a markdown table, failures in bold."""
    lines = ["## Checks", "", "| check | value | threshold | result |", "|---|---|---|---|"]
    for c in report["checks"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.3f}"
        shown = f"**{result(c)}**" if c["passed"] is False else result(c)
        lines.append(f"| {c['check']} | {value} | {c['limit'] or '-'} | {shown} |")
    return lines + [""]


def artifact_tables(report: dict) -> dict[str, tuple[list[dict], str]]:
    """The gate's checks and augmentation curve as Prefect table artifacts: key -> (rows, description)."""
    tables = {"quality-figures": (check_rows(report), "Quality gate checks")}
    if "points" in report.get("augmentation", {}):
        tables["augmentation-curve"] = (curve_rows(report["augmentation"]["points"]),
                                        f"Holdout {report['augmentation']['metric']}: real only vs real + synthetic "
                                        "(and the baselines, where measured), at fractions of the real rows")
    return tables


def curve_rows(points: list[dict]) -> list[dict]:
    """The augmentation curve flat: one row per fraction, or per fraction and arm where the curve has baselines."""
    return [{"fraction": p["fraction"], "arm": name, **arm} if "arms" in p else p
            for p in points for name, arm in (p["arms"].items() if "arms" in p else [(None, None)])]
