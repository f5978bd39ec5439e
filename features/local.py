"""Local indicators: a locality declares its own indicators as data (a column or an arithmetic expression).

One zone scores the 18 national indicators plus 22 of its own, Hubei uses 27; so adding one must not need
code. A declaration is validated like a built-in indicator and becomes an :class:`Indicator` with status
``local``. Expressions are parsed, never ``eval``-ed: numbers, panel column names (raw `firm_years` columns,
with ``_lag1`` / ``_lag2`` for earlier years), ``+ - * /``, unary minus and the functions ``log1p``, ``abs``,
``min``, ``max``. Division by zero gives a missing value, and so does any missing input.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from innopoints.features.catalog import GROUPS, Indicator, check_metadata
from innopoints.features.errors import IndicatorError

FUNCTIONS: dict[str, Callable[..., pd.Series]] = {
    "log1p": lambda x: np.log1p(x.where(x > -1)),
    "abs": lambda x: x.abs(),
    "min": lambda a, b: np.fmin(a, b).where(a.notna() & b.notna()),
    "max": lambda a, b: np.fmax(a, b).where(a.notna() & b.notna()),
}
ARITY: dict[str, int] = {"log1p": 1, "abs": 1, "min": 2, "max": 2}


class LocalIndicatorSpec(BaseModel):
    """One declared indicator: metadata plus either ``column`` or ``expression``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name_zh: str
    name_en: str
    group: str = Field(description=f"one of {GROUPS}")
    unit: str
    direction: int
    column: str | None = None
    expression: str | None = None
    valid_range: tuple[float | None, float | None] = (None, None)

    @model_validator(mode="after")
    def _one_source(self) -> LocalIndicatorSpec:
        if (self.column is None) == (self.expression is None):
            raise ValueError("give exactly one of `column` or `expression`")
        return self


def _names(tree: ast.AST, source: str, ind_id: str) -> list[str]:
    """Validate the expression tree and return the column names it reads, in first-seen order."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            visit(node.operand)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            pass
        elif isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise IndicatorError(f"local indicator {ind_id!r}: function {node.id!r} used without a call")
            if node.id not in names:
                names.append(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS \
                and not node.keywords:
            if len(node.args) != ARITY[node.func.id]:
                raise IndicatorError(
                    f"local indicator {ind_id!r}: {node.func.id}() takes {ARITY[node.func.id]} argument(s)"
                )
            for arg in node.args:
                visit(arg)
        else:
            snippet = ast.get_source_segment(source, node) or type(node).__name__
            raise IndicatorError(
                f"local indicator {ind_id!r}: expression {source!r} uses {snippet!r}, which is not allowed "
                "(numbers, column names, + - * /, log1p, abs, min, max)"
            )

    visit(tree)
    return names


def _evaluate(node: ast.AST, env: dict[str, pd.Series]) -> pd.Series | float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id].astype("float64")
    if isinstance(node, ast.UnaryOp):
        val = _evaluate(node.operand, env)
        return -val if isinstance(node.op, ast.USub) else val
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_as_series(_evaluate(a, env), env) for a in node.args))
    assert isinstance(node, ast.BinOp)
    left, right = _evaluate(node.left, env), _evaluate(node.right, env)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    if isinstance(right, pd.Series):
        return left / right.where(right != 0)
    return left / right if right != 0 else left * np.nan


def _as_series(value: pd.Series | float, env: dict[str, pd.Series]) -> pd.Series:
    if isinstance(value, pd.Series):
        return value
    index = next(iter(env.values())).index
    return pd.Series(value, index=index, dtype="float64")


def build_local_indicator(spec: LocalIndicatorSpec | dict) -> Indicator:
    """Turn a declaration into an :class:`Indicator`; a malformed one raises :class:`IndicatorError`."""
    if isinstance(spec, dict):
        try:
            spec = LocalIndicatorSpec(**spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "declaration"
            raise IndicatorError(
                f"local indicator {spec.get('id', '?')!r}: {where}: {err['msg']}"
            ) from None
    if spec.column is not None:
        source = spec.column
        inputs = [spec.column]
        if not spec.column.isidentifier() or keyword.iskeyword(spec.column):
            raise IndicatorError(f"local indicator {spec.id!r}: column {spec.column!r} is not a column name")
        tree = ast.parse(spec.column, mode="eval")
    else:
        source = spec.expression or ""
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise IndicatorError(
                f"local indicator {spec.id!r}: expression {source!r} does not parse: {exc.msg}"
            ) from None
        inputs = _names(tree, source, spec.id)
        if not inputs:
            raise IndicatorError(f"local indicator {spec.id!r}: expression {source!r} reads no column")

    def func(*series: pd.Series) -> pd.Series:
        value = _evaluate(tree, dict(zip(inputs, series, strict=True)))
        return _as_series(value, dict(zip(inputs, series, strict=True)))

    ind = Indicator(
        id=spec.id, name_zh=spec.name_zh, name_en=spec.name_en, group=spec.group, unit=spec.unit,
        direction=spec.direction, status="local", inputs=tuple(inputs), valid_range=spec.valid_range,
        description=f"local: {source}", func=func,
    )
    check_metadata(ind)
    return ind


def build_local_indicators(specs: list[dict | LocalIndicatorSpec], known_ids: set[str]) -> list[Indicator]:
    """Build every declaration; ids must not clash with built-ins or each other."""
    out: list[Indicator] = []
    seen = set(known_ids)
    for spec in specs:
        ind = build_local_indicator(spec)
        if ind.id in seen:
            raise IndicatorError(f"local indicator {ind.id!r}: id already used by another indicator")
        seen.add(ind.id)
        out.append(ind)
    return out
