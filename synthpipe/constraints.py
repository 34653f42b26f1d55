"""Relations synthetic rows must satisfy exactly (train.constraints), applied by construction when rows are drawn:

    hour = sched_dep_time // 100      a column computed from others: written from the expression
    arr_time >= dep_time              an inequality: where a row breaks it, its left column is reflected across
                                      the bound (arr_time := 2 * dep_time - arr_time), so no row is thrown away

Expressions hold numbers, column names and + - * / // % with brackets. They are parsed with ast.parse in 'eval'
mode and walked by hand: any other syntax (calls, attributes, subscripts, ...) is refused, and nothing is ever
evaluated as Python. A null anywhere in an expression makes it null; an inequality with a null side holds.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from synthpipe.errors import ConfigError

ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
COMPARISONS = {ast.GtE: (operator.ge, ">="), ast.Gt: (operator.gt, ">"), ast.LtE: (operator.le, "<="),
               ast.Lt: (operator.lt, "<")}
ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.+)$")


@dataclass(frozen=True)
class Constraint:
    text: str
    column: str  # the column written (derived) or adjusted (inequality)
    expression: ast.expr  # derived: the value; inequality: the bound
    comparison: type[ast.cmpop] | None = None  # None: derived

    @property
    def columns(self) -> set[str]:
        return {self.column} | {node.id for node in ast.walk(self.expression) if isinstance(node, ast.Name)}


def parse(text: str) -> Constraint:
    """'col = expr' or 'col <op> expr' (op one of >= > <= <); a ConfigError names what is wrong."""
    assigned = ASSIGNMENT.match(text)
    try:
        if assigned:
            column, expression = assigned.group(1), ast.parse(assigned.group(2).strip(), mode="eval").body
            _check(expression, text)
            return Constraint(text, column, expression)
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConfigError(f"train.constraints: {text!r} is not 'column = expression' or 'column >= expression': "
                          f"{exc.msg}") from None
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in COMPARISONS
            and isinstance(tree.left, ast.Name)):
        raise ConfigError(f"train.constraints: {text!r}: expected 'column = expression' or 'column >= expression' "
                          "(>=, >, <=, < with a column on the left)")
    _check(tree.comparators[0], text)
    return Constraint(text, tree.left.id, tree.comparators[0], type(tree.ops[0]))


def _check(node: ast.expr, text: str) -> None:
    for part in ast.walk(node):
        allowed = (ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.USub, ast.UAdd, *ARITHMETIC)
        if isinstance(part, ast.Constant) and isinstance(part.value, (int, float)) and not isinstance(part.value, bool):
            continue
        if not isinstance(part, allowed):
            raise ConfigError(f"train.constraints: {text!r}: only numbers, column names and + - * / // % are "
                              f"allowed, not {type(part).__name__}")


def evaluate(node: ast.expr, df: pd.DataFrame) -> pd.Series:
    """The expression's value on every row, as floats (nulls as NaN)."""
    if isinstance(node, ast.Constant):
        return pd.Series(float(node.value), index=df.index)
    if isinstance(node, ast.Name):
        if node.id not in df.columns:
            raise ConfigError(f"train.constraints: no column '{node.id}' (columns: {list(map(str, df.columns))})")
        return pd.to_numeric(df[node.id], errors="coerce").astype(float)
    if isinstance(node, ast.UnaryOp):
        value = evaluate(node.operand, df)
        return -value if isinstance(node.op, ast.USub) else value
    left, right = evaluate(node.left, df), evaluate(node.right, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = ARITHMETIC[type(node.op)](left, right)
    return result.replace([np.inf, -np.inf], np.nan)


def holds(constraint: Constraint, df: pd.DataFrame) -> pd.Series:
    """True where a row satisfies the constraint, None where it does not apply (a null in it)."""
    value, bound = evaluate(ast.Name(constraint.column), df), evaluate(constraint.expression, df)
    applies = value.notna() & bound.notna()
    if constraint.comparison is None:
        result = np.isclose(value, bound, rtol=1e-9, atol=1e-9)
    else:
        result = COMPARISONS[constraint.comparison][0](value, bound).to_numpy()
    return pd.Series(np.where(applies, result, None), index=df.index, dtype=object)


def apply(constraints: list[Constraint], df: pd.DataFrame) -> pd.DataFrame:
    """Rows made to satisfy every constraint, in the order given."""
    for constraint in constraints:
        current = evaluate(ast.Name(constraint.column), df)
        bound = evaluate(constraint.expression, df)
        if constraint.comparison is None:
            new = bound.where(bound.notna(), current)  # inputs missing: the constraint does not apply
        else:
            broken = holds(constraint, df).eq(False)
            reflected = 2 * bound - current
            if constraint.comparison in (ast.Gt, ast.Lt):  # a strict bound: a row on it moves off by one unit
                step = 1.0 if constraint.comparison is ast.Gt else -1.0
                reflected = reflected.where(reflected != bound, bound + step)
            new = current.where(~broken, reflected)
        df[constraint.column] = _as_dtype(new, df[constraint.column])
    return df


def _as_dtype(values: pd.Series, like: pd.Series) -> pd.Series:
    if ptypes.is_integer_dtype(like.dtype) and values.notna().all():
        return values.round().astype(like.dtype)
    if ptypes.is_integer_dtype(like.dtype):
        return values.round().astype("Int64")
    return values.astype(like.dtype) if ptypes.is_float_dtype(like.dtype) else values


def suggestions(df: pd.DataFrame, limit: int = 10, rows: int = 20_000) -> list[str]:
    """Obvious exact relations between numeric columns (b = a // 100, b = a % 100, b = a), checked on a seeded
    sample: for the report to propose as constraints. Columns with few distinct values are left out as sources."""
    sample = df.sample(min(rows, len(df)), random_state=0) if len(df) > rows else df
    numeric = [c for c in sample.columns if ptypes.is_numeric_dtype(sample[c]) and not ptypes.is_bool_dtype(sample[c])]
    found = []
    for a in numeric:
        x = sample[a].astype(float)
        if x.nunique() < 20:
            continue
        for b in numeric:
            y = sample[b].astype(float)
            both = x.notna() & y.notna()
            if b == a or both.sum() < 20 or y[both].nunique() < 2:
                continue
            for text, value in ((f"{b} = {a} // 100", x // 100), (f"{b} = {a} % 100", x % 100), (f"{b} = {a}", x)):
                if np.array_equal(value[both].to_numpy(), y[both].to_numpy()):
                    found.append(text)
                    break
    return found[:limit]
