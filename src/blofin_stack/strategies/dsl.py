"""Strategies as data: a declarative rule DSL (JSON or YAML) validated by pydantic.

A spec names its entry and exit conditions as comparisons and crossings over features, combined with
``all``/``any``/``not``, plus optional stop-loss, take-profit (percent or ATR multiples) and maximum
hold. :class:`DslStrategy` turns a spec into an ordinary :class:`~blofin_stack.strategies.base.Strategy`,
so a DSL strategy runs through the same backtest engine, audit and (later) live loop as a Python one.
The format is documented in ``docs/STRATEGIES.md`` ("Strategies as data (DSL)")::

    name: rsi_dip_buyer
    description: Buy RSI dips in an uptrend
    timeframes: [5m]
    direction: long
    params:
      rsi_low: {default: 30, low: 10, high: 45, step: 1}
    entry_long: {all: [{left: rsi_14, op: "<", right: $rsi_low}, {left: close, op: ">", right: "1H:ema_50"}]}
    exit_long: {cross: above, left: rsi_14, right: 55}
    stop_loss: {atr: 2.0}

Round trip: ``load(dump(load(x))) == load(x)`` and ``dump(load(dump(spec))) == dump(spec)``:
:func:`dump_strategy_spec` writes the fields in a fixed order, never writes a field the spec does not
set, and keeps integers and floats apart (``30`` stays an integer parameter, ``30.0`` a float one).
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import json
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from blofin_stack.features import REGISTRY, UnknownFeatureError
from blofin_stack.market.timeframes import TimeframeError, parse_timeframe, timeframe_ms
from blofin_stack.strategies.base import (
    RISK_PARAMS,
    Param,
    ParamValue,
    RiskRules,
    Strategy,
    atr_exits,
    crossed_above,
    crossed_below,
    signal_frame,
)

__all__ = [
    "AllOf",
    "AnyOf",
    "Comparison",
    "Condition",
    "Crossing",
    "DslError",
    "DslStrategy",
    "ExitSpec",
    "FeatureRef",
    "NotOf",
    "Operand",
    "ParamSpec",
    "StrategySpec",
    "dump_strategy_spec",
    "load_strategy_spec",
    "load_strategy_text",
    "strategy_from_file",
]

#: The feature every ATR-based stop or target reads (ATR(14) in percent of the close).
ATR_FEATURE = "atr_pct_14"
FORMATS = ("json", "yaml")
_EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class DslError(ValueError):
    """A strategy spec that cannot be parsed or is invalid.

    Attributes:
        source: the file (or label) the spec came from.
        problems: ``(field path, message)`` pairs, one per problem (the path is ``""`` for a parse error).
        line: 1-based line of a parse error, when the parser gives one.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]], line: int | None = None) -> None:
        self.source = source
        self.problems = problems
        self.line = line
        if len(problems) == 1 and not problems[0][0]:
            text = f"{source}: {problems[0][1]}"
        else:
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
            lines = [f"{source}: {path}: {message}" if path else f"{source}: {message}" for path, message in problems]
            text = "\n".join([f"{source}: invalid strategy spec ({count})", *lines])
        super().__init__(text)


def _error(message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message`` (no "Value error," prefix)."""
    return PydanticCustomError("dsl", "{message}", {"message": message})


def _did_you_mean(name: str, candidates: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, candidates, n=3)
    return f"; did you mean {', '.join(prefix + c for c in close)}?" if close else ""


# --- scalar types -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SpecContext:
    """What field validators of a spec being validated may know about its other fields (raw input)."""

    params: Mapping[str, Any]
    timeframes: tuple[str, ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _SpecContext:
        params = data.get("params")
        timeframes = data.get("timeframes")
        valid = []
        for tf in timeframes if isinstance(timeframes, list | tuple) else ():
            with contextlib.suppress(TimeframeError, AttributeError):
                valid.append(parse_timeframe(tf))
        return cls(params if isinstance(params, dict) else {}, tuple(valid))

    def raw_param(self, reference: str) -> Mapping[str, Any]:
        raw = self.params.get(reference[1:])
        return raw if isinstance(raw, dict) else {}


#: Set while a :class:`StrategySpec` is validated (``None`` when a part is validated on its own).
_CONTEXT: contextvars.ContextVar[_SpecContext | None] = contextvars.ContextVar("dsl_spec_context", default=None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(f"must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(f"must be a finite number, not {value!r}")
    return value


#: An int or a float (kept as written: ``30`` stays an int, ``30.0`` a float); bools and text are rejected.
Number = Annotated[int | float, BeforeValidator(_number)]


def _param_ref(value: str) -> str:
    name = value[1:]
    if not _PARAM_RE.match(name):
        raise _error(f"{value!r} is not a parameter reference: write '$' and a snake_case parameter name")
    context = _CONTEXT.get()
    declared = sorted(context.params) if context is not None else None
    if declared is not None and name not in declared:
        if declared:
            hint = _did_you_mean(name, declared, "$") or f" (parameters: {', '.join(declared)})"
        else:
            hint = " (this spec declares no params)"
        raise _error(f"unknown parameter {value!r}{hint}")
    return value


def _feature_name(value: str) -> str:
    """The canonical name of feature ``value`` (``60m:ema_50`` -> ``1H:ema_50``)."""
    if value.startswith("$"):
        raise _error(f"{value!r}: a parameter cannot stand where a feature name is required")
    try:
        name = REGISTRY.resolve(value).name
    except UnknownFeatureError as exc:
        raise _error(str(exc)) from None
    context = _CONTEXT.get()
    if ":" in name and context is not None:
        prefix = name.partition(":")[0]
        step = timeframe_ms(prefix)
        bad = [tf for tf in context.timeframes if step < timeframe_ms(tf) or step % timeframe_ms(tf)]
        if bad:
            raise _error(
                f"feature {name!r} is computed on {prefix} bars, which cannot be built from the strategy's "
                f"{', '.join(bad)} bars: use a timeframe prefix at least as long as every timeframe"
            )
    return name


def _name_operand(value: str) -> str:
    return _param_ref(value) if value.startswith("$") else _feature_name(value)


FeatureName = Annotated[str, AfterValidator(_feature_name)]


def _param_only(value: str) -> str:
    if not value.startswith("$"):
        raise _error(f"must be a number or a parameter reference '$name', not {value!r}")
    return _param_ref(value)


#: ``"$name"``: a parameter's value.
ParamRef = Annotated[str, AfterValidator(_param_only)]
#: A feature name or ``"$name"``.
NameOperand = Annotated[str, AfterValidator(_name_operand)]


def _positive(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
        raise _error(f"must be > 0, not {value}")
    return value


def _distance_param(value: str) -> str:
    """A parameter used as a stop/target distance must stay > 0 over its whole range."""
    context = _CONTEXT.get()
    if context is not None and value[1:] in context.params:
        low: Any = context.raw_param(value).get("low")
        if not _is_number(low) or low <= 0:
            raise _error(f"parameter {value!r} is used as a distance, so it needs low > 0 (it has low {low})")
    return value


def _hold_param(value: str) -> str:
    """A parameter used as ``max_hold_bars`` must be an integer >= 1 over its whole range."""
    context = _CONTEXT.get()
    if context is not None and value[1:] in context.params:
        raw = context.raw_param(value)
        default: Any = raw.get("default")
        low: Any = raw.get("low")
        if not (isinstance(default, int) and not isinstance(default, bool)) or not _is_number(low) or low < 1:
            raise _error(
                f"parameter {value!r} is used as max_hold_bars, so it needs an integer default and low >= 1 "
                f"(it has default {default}, low {low})"
            )
    return value


def _number_or_param_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<param>"
    if isinstance(value, int | float):
        return "<number>"
    return None


#: A number > 0 or ``"$name"``.
PositiveOrParam = Annotated[
    Annotated[Annotated[Number, AfterValidator(_positive)], Tag("<number>")]
    | Annotated[Annotated[ParamRef, AfterValidator(_distance_param)], Tag("<param>")],
    Discriminator(
        _number_or_param_tag,
        custom_error_type="dsl",
        custom_error_message="must be a number > 0 or a parameter reference '$name'",
    ),
]


def _hold_bars(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(f"must be a whole number of bars, not {value!r}")
    if value < 1:
        raise _error(f"must be >= 1, not {value}")
    return value


#: A whole number of bars >= 1 or ``"$name"``.
HoldBars = Annotated[
    Annotated[Annotated[int, BeforeValidator(_hold_bars)], Tag("<number>")]
    | Annotated[Annotated[ParamRef, AfterValidator(_hold_param)], Tag("<param>")],
    Discriminator(
        _number_or_param_tag,
        custom_error_type="dsl",
        custom_error_message="must be a whole number of bars >= 1 or a parameter reference '$name'",
    ),
]


def _timeframe(value: Any) -> str:
    if not isinstance(value, str):
        raise _error(f"a timeframe is text such as '5m', not {value!r}")
    try:
        return parse_timeframe(value)
    except TimeframeError as exc:
        raise _error(str(exc)) from None


Timeframe = Annotated[str, BeforeValidator(_timeframe)]


def _timeframe_list(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise _error("needs at least one timeframe, e.g. [5m]")
    twice = sorted({tf for tf in values if values.count(tf) > 1})
    if twice:
        raise _error(f"{', '.join(twice)} listed more than once")
    return values


def _shift(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(f"shift must be a whole number of bars >= 0, not {value!r}")
    if value < 0:
        raise _error(
            f"shift {value} would read the value {-value} bar(s) in the future (look-ahead); "
            "use shift >= 0: the value k bars ago"
        )
    return value


# --- models -------------------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureRef(_Model):
    """``{feature: name, shift: k}``: the feature's value ``k >= 0`` bars ago (``Series.shift(k)``)."""

    feature: FeatureName
    shift: Annotated[int, BeforeValidator(_shift)]


def _operand_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "<name>"
    if isinstance(value, int | float):  # bool included: rejected by Number with a clear message
        return "<number>"
    if isinstance(value, dict | FeatureRef):
        return "<ref>"
    return None


#: A feature name, a number, ``"$param"`` or ``{feature, shift}``.
Operand = Annotated[
    Annotated[NameOperand, Tag("<name>")] | Annotated[Number, Tag("<number>")] | Annotated[FeatureRef, Tag("<ref>")],
    Discriminator(
        _operand_tag,
        custom_error_type="dsl",
        custom_error_message="must be a feature name, a number, a parameter '$name' or {feature: name, shift: k}",
    ),
]

Op = Literal["<", "<=", ">", ">=", "==", "!="]
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _is_constant(operand: Any) -> bool:
    return not isinstance(operand, FeatureRef) and (not isinstance(operand, str) or operand.startswith("$"))


class Comparison(_Model):
    """``{left, op, right}``: true on bars where ``left op right`` holds (a NaN operand makes it false)."""

    left: Operand
    op: Op
    right: Operand

    @model_validator(mode="after")
    def _one_feature(self) -> Comparison:
        if _is_constant(self.left) and _is_constant(self.right):
            raise _error("compares two constants: at least one side must be a feature")
        return self


class Crossing(_Model):
    """``{cross: above|below, left, right}``: ``left`` crosses ``right`` on this bar (strict, as
    :func:`~blofin_stack.strategies.base.crossed_above`)."""

    cross: Literal["above", "below"]
    left: Operand
    right: Operand

    @model_validator(mode="after")
    def _one_feature(self) -> Crossing:
        if _is_constant(self.left) and _is_constant(self.right):
            raise _error("crosses two constants: at least one side must be a feature")
        return self


def _non_empty(conditions: tuple[Any, ...]) -> tuple[Any, ...]:
    if not conditions:
        raise _error("needs at least one condition")
    return conditions


class AllOf(_Model):
    """``{all: [...]}``: every condition holds."""

    all: Annotated[tuple[Condition, ...], AfterValidator(_non_empty)]


class AnyOf(_Model):
    """``{any: [...]}``: at least one condition holds."""

    any: Annotated[tuple[Condition, ...], AfterValidator(_non_empty)]


class NotOf(_Model):
    """``{not: condition}``: the condition does not hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    not_: Condition = Field(alias="not")


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _MODEL_TAGS.get(type(value))
    if not isinstance(value, dict):
        return None
    for key, tag in (("all", "<all>"), ("any", "<any>"), ("not", "<not>"), ("cross", "<cross>")):
        if key in value:
            return tag
    if {"op", "left", "right"} & value.keys():
        return "<compare>"
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[NotOf, Tag("<not>")]
    | Annotated[Crossing, Tag("<cross>")]
    | Annotated[Comparison, Tag("<compare>")],
    Discriminator(
        _condition_tag,
        custom_error_type="dsl",
        custom_error_message=(
            "a condition is {all: [...]}, {any: [...]}, {not: ...}, {left, op, right} "
            "or {cross: above|below, left, right}"
        ),
    ),
]
_MODEL_TAGS: dict[type, str] = {
    AllOf: "<all>",
    AnyOf: "<any>",
    NotOf: "<not>",
    Crossing: "<cross>",
    Comparison: "<compare>",
    FeatureRef: "<ref>",
}
for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()


class ParamSpec(_Model):
    """A tunable number: its default and (optionally) its range and grid step, as :class:`Param`."""

    default: Number
    low: Number | None = None
    high: Number | None = None
    step: Number | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise _error(f"low {self.low} is above high {self.high}")
        if (self.low is not None and self.default < self.low) or (self.high is not None and self.default > self.high):
            raise _error(f"default {self.default} is outside [low {self.low}, high {self.high}]")
        if self.step is not None and self.step <= 0:
            raise _error(f"step must be > 0, not {self.step}")
        if isinstance(self.default, int) and self.step is not None and not float(self.step).is_integer():
            raise _error(f"an integer parameter (default {self.default}) needs a whole-number step, not {self.step}")
        return self

    def to_param(self) -> Param:
        return Param(self.default, self.low, self.high, self.step, self.description)


def _param_name(value: str) -> str:
    if not _PARAM_RE.match(value):
        raise _error(f"parameter name {value!r} must be snake_case (lower-case letters, digits, '_')")
    if value in RISK_PARAMS:
        raise _error(
            f"parameter name {value!r} is reserved; declare e.g. 'stop_pct' and write stop_loss: {{pct: $stop_pct}}"
        )
    return value


class ExitSpec(_Model):
    """A stop-loss or take-profit distance: exactly one of ``pct`` (percent of the entry price) or ``atr``
    (multiple of ATR(14), evaluated on the signal bar)."""

    pct: PositiveOrParam | None = None
    atr: PositiveOrParam | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ExitSpec:
        if (self.pct is None) == (self.atr is None):
            raise _error("give exactly one of pct (percent of the entry price) or atr (multiple of ATR(14))")
        return self

    @property
    def kind(self) -> Literal["pct", "atr"]:
        return "pct" if self.pct is not None else "atr"

    @property
    def value(self) -> float | int | str:
        return self.pct if self.pct is not None else self.atr  # type: ignore[return-value]


def _strategy_name(value: str) -> str:
    if not 3 <= len(value) <= 64 or not _NAME_RE.match(value):
        raise _error(f"{value!r} must be snake_case (a-z, 0-9, '_', starting with a letter), 3..64 characters")
    return value


Side = Literal["long", "short"]
_SIDES: dict[str, tuple[Side, ...]] = {"long": ("long",), "short": ("short",), "both": ("long", "short")}


class StrategySpec(_Model):
    """A whole strategy. Fields in the order :func:`dump_strategy_spec` writes them."""

    name: Annotated[str, AfterValidator(_strategy_name)]
    description: str = ""
    timeframes: Annotated[tuple[Timeframe, ...], AfterValidator(_timeframe_list)]
    direction: Literal["long", "short", "both"]
    params: dict[Annotated[str, AfterValidator(_param_name)], ParamSpec] = Field(default_factory=dict)
    entry_long: Condition | None = None
    exit_long: Condition | None = None
    entry_short: Condition | None = None
    exit_short: Condition | None = None
    stop_loss: ExitSpec | None = None
    take_profit: ExitSpec | None = None
    max_hold_bars: HoldBars | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _validate_whole(cls, data: Any, handler: Callable[[Any], StrategySpec]) -> StrategySpec:
        """Field validation that knows the raw ``params`` and ``timeframes`` (for ``$param`` references and
        higher-timeframe features), plus the direction checks; every problem is reported at once, each at
        its own field path."""
        if not isinstance(data, dict):
            return handler(data)
        token = _CONTEXT.set(_SpecContext.of(data))
        problems: list[tuple[tuple[str | int, ...], str, Any]] = []
        spec: StrategySpec | None = None
        try:
            spec = handler(data)
        except ValidationError as exc:
            problems.extend((tuple(e["loc"]), _message(e), e.get("input")) for e in exc.errors())
        finally:
            _CONTEXT.reset(token)
        problems.extend(_direction_problems(data))
        if problems:
            problems.sort(key=lambda p: _FIELD_ORDER.get(str(p[0][0]) if p[0] else "", -1))
            raise ValidationError.from_exception_data(
                cls.__name__,
                [InitErrorDetails(type=_error(msg), loc=loc, input=value) for loc, msg, value in problems],
            )
        return spec  # type: ignore[return-value]

    # --- reading a spec -------------------------------------------------------------------------------------------

    @property
    def sides(self) -> tuple[Side, ...]:
        return _SIDES[self.direction]

    def conditions(self) -> Iterator[tuple[str, Condition]]:
        """``(field, condition)`` for every entry/exit condition the spec sets."""
        for field in ("entry_long", "exit_long", "entry_short", "exit_short"):
            condition = getattr(self, field)
            if condition is not None:
                yield field, condition

    def operands(self) -> Iterator[tuple[tuple[str | int, ...], Any]]:
        """``(field path, operand)`` for every operand of every condition, in document order."""
        for field, condition in self.conditions():
            yield from _walk(condition, (field,))

    def feature_names(self) -> list[str]:
        """Every feature the conditions read (canonical names, document order, no duplicates), plus
        ``atr_pct_14`` when a stop or target is an ATR multiple."""
        names = []
        for _, operand in self.operands():
            if isinstance(operand, FeatureRef):
                names.append(operand.feature)
            elif isinstance(operand, str) and not operand.startswith("$"):
                names.append(operand)
        if any(e is not None and e.kind == "atr" for e in (self.stop_loss, self.take_profit)):
            names.append(ATR_FEATURE)
        return list(dict.fromkeys(names))


def _walk(condition: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(condition, AllOf | AnyOf):
        key = "all" if isinstance(condition, AllOf) else "any"
        for i, child in enumerate(getattr(condition, key)):
            yield from _walk(child, (*loc, key, i))
    elif isinstance(condition, NotOf):
        yield from _walk(condition.not_, (*loc, "not"))
    else:
        yield (*loc, "left"), condition.left
        yield (*loc, "right"), condition.right


_FIELD_ORDER = {name: i for i, name in enumerate(StrategySpec.model_fields)}


def _direction_problems(data: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], str, Any]]:
    """Entry/exit conditions against ``direction``, checked on the raw input (so they are reported along
    with every other problem)."""
    direction = data.get("direction")
    if direction not in _SIDES:
        return
    sides = _SIDES[direction]
    for side in ("long", "short"):
        entry, exit_ = f"entry_{side}", f"exit_{side}"
        if side in sides:
            if data.get(entry) is None:
                yield (entry,), f"required when direction is {direction}", None
            if len(sides) == 1 and all(
                data.get(k) is None for k in (exit_, "stop_loss", "take_profit", "max_hold_bars")
            ):
                yield (
                    (exit_,),
                    f"a {side}-only strategy needs a way out of a position: give {exit_}, stop_loss, take_profit "
                    "or max_hold_bars",
                    None,
                )
        else:
            for key in (entry, exit_):
                if data.get(key) is not None:
                    yield (key,), f"not allowed when direction is {direction} (the strategy never goes {side})", None


# --- error messages -----------------------------------------------------------------------------------------------

_FIELDS_BY_TAG: dict[str, list[str]] = {
    "<all>": ["all"],
    "<any>": ["any"],
    "<not>": ["not"],
    "<cross>": ["cross", "left", "right"],
    "<compare>": ["left", "op", "right"],
    "<ref>": ["feature", "shift"],
}


def _is_tag(part: str | int) -> bool:
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


def _allowed_fields(loc: tuple[str | int, ...]) -> list[str]:
    """The field names valid where the unknown key ``loc[-1]`` was found."""
    parent = loc[:-1]
    tags = [p for p in parent if _is_tag(p)]
    if tags and _is_tag(parent[-1]):
        return _FIELDS_BY_TAG.get(str(tags[-1]), [])
    if len(parent) == 2 and parent[0] == "params":
        return list(ParamSpec.model_fields)
    if len(parent) == 1 and parent[0] in ("stop_loss", "take_profit"):
        return list(ExitSpec.model_fields)
    if not parent:
        return list(StrategySpec.model_fields)
    return []


def _message(error: Any) -> str:
    """A person-friendly message for one pydantic error."""
    kind, message, loc = error["type"], error["msg"], tuple(error["loc"])
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc)
        hint = _did_you_mean(str(loc[-1]), allowed) if allowed else ""
        listing = f" (fields here: {', '.join(allowed)})" if allowed and not hint else ""
        return f"unknown field {loc[-1]!r}{hint}{listing}"
    if kind == "missing":
        return "required field missing"
    if kind in ("tuple_type", "list_type"):
        return f"must be a list, not {error.get('input')!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, not {error.get('input')!r}"
    if kind == "string_type":
        return f"must be text, not {error.get('input')!r}"
    if kind == "literal_error":
        return f"{message}, not {error.get('input')!r}"
    return message.removeprefix("Value error, ")


def format_loc(loc: tuple[str | int, ...]) -> str:
    """``("entry_long", "<all>", "all", 1, "<compare>", "right")`` -> ``entry_long.all[1].right``."""
    out = ""
    for part in loc:
        if _is_tag(part) or part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(format_loc(tuple(e["loc"])), e["msg"]) for e in exc.errors()]


# --- loading and dumping ------------------------------------------------------------------------------------------

# YAML 1.1 (PyYAML) reads "1e-3" as text; YAML 1.2 and JSON read it as a number. Loader and dumper agree on
# the 1.2 rule, so such a string is written quoted and such a number read as a number.
_FLOAT_12 = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


class _Loader(yaml.SafeLoader):
    """Safe YAML loading that rejects duplicate keys and reads ``1e-3`` as a number."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Dumper(yaml.SafeDumper):
    pass


for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse(text: str, fmt: str, source: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=_reject_duplicates)
        except json.JSONDecodeError as exc:
            raise DslError(source, [("", f"line {exc.lineno}: invalid JSON: {exc.msg}")], exc.lineno) from None
        except ValueError as exc:
            raise DslError(source, [("", f"invalid JSON: {exc}")]) from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        where = f"line {line}: " if line else ""
        detail = f"{context}, {problem}" if context else problem
        raise DslError(source, [("", f"{where}invalid YAML: {detail}")], line) from None


def load_strategy_text(text: str, fmt: str = "yaml", source: str = "<text>") -> StrategySpec:
    """Parse and validate a spec written in ``fmt`` (``json``, ``yaml`` or ``yml``).

    Raises:
        DslError: a syntax error (naming ``source`` and the line), or every validation problem as
            ``source: field.path: message``.
    """
    fmt = {"yml": "yaml"}.get(fmt.lower(), fmt.lower())
    if fmt not in FORMATS:
        raise ValueError(f"unknown spec format {fmt!r}; use json or yaml")
    data = _parse(text, fmt, source)
    if not isinstance(data, dict):
        raise DslError(source, [("", f"a strategy spec is a mapping of fields, not {type(data).__name__}")])
    try:
        return StrategySpec.model_validate(data)
    except ValidationError as exc:
        raise DslError(source, _problems(exc)) from None


def load_strategy_spec(path: str | Path) -> StrategySpec:
    """Load and validate the spec in ``path`` (format by extension: ``.json``, ``.yaml``, ``.yml``).

    Raises:
        DslError: unknown extension, unreadable file, syntax error or invalid spec (see
            :func:`load_strategy_text`).
    """
    path = Path(path)
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise DslError(str(path), [("", f"unknown spec extension {path.suffix!r}; use .json, .yaml or .yml")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DslError(str(path), [("", f"cannot read the file: {exc}")]) from None
    return load_strategy_text(text, fmt, str(path))


def spec_data(spec: StrategySpec) -> dict[str, Any]:
    """The spec as plain data in the canonical field order, without the fields it does not set."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not data.get("description"):
        data.pop("description", None)
    if not data.get("params"):
        data.pop("params", None)
    for param in data.get("params", {}).values():
        if not param.get("description"):
            param.pop("description", None)
    return data


def dump_strategy_spec(spec: StrategySpec, fmt: str = "json") -> str:
    """The spec as JSON (2-space indent) or YAML text, keys in a fixed order, ending in a newline.

    ``load_strategy_text(dump_strategy_spec(s, f), f) == s`` for every valid spec ``s``.
    """
    fmt = {"yml": "yaml"}.get(fmt.lower(), fmt.lower())
    data = spec_data(spec)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
    raise ValueError(f"unknown spec format {fmt!r}; use json or yaml")


# --- the strategy -------------------------------------------------------------------------------------------------


def _value(operand: Any, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.Series | float:
    if isinstance(operand, FeatureRef):
        series = features[operand.feature].astype("float64")
        return series.shift(operand.shift) if operand.shift else series
    if isinstance(operand, str):
        return float(params[operand[1:]]) if operand.startswith("$") else features[operand].astype("float64")
    return float(operand)


def _evaluate(condition: Any, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.Series:
    """Boolean Series of ``condition`` on every bar of ``features`` (vectorised)."""
    if isinstance(condition, AllOf | AnyOf):
        parts = [
            _evaluate(c, features, params) for c in (condition.all if isinstance(condition, AllOf) else condition.any)
        ]
        combine = operator.and_ if isinstance(condition, AllOf) else operator.or_
        result = parts[0]
        for part in parts[1:]:
            result = combine(result, part)
        return result
    if isinstance(condition, NotOf):
        return ~_evaluate(condition.not_, features, params)
    left = _value(condition.left, features, params)
    right = _value(condition.right, features, params)
    if isinstance(condition, Crossing):
        if not isinstance(left, pd.Series):
            left = pd.Series(left, index=features.index, dtype="float64")
        cross = crossed_above if condition.cross == "above" else crossed_below
        return cross(left, right).astype(bool)
    result = _OPS[condition.op](left, right)
    if not isinstance(result, pd.Series):  # unreachable for a valid spec (one side is a feature)
        result = pd.Series(bool(result), index=features.index)
    for side in (left, right):
        if isinstance(side, pd.Series):
            result = result & side.notna()  # NaN compares false, "!=" included
    return result.astype(bool)


class DslStrategy(Strategy):
    """A :class:`Strategy` defined by a :class:`StrategySpec`.

    Use :meth:`from_spec` (an instance) or :meth:`class_from_spec` (a subclass whose class attributes
    ``name``, ``description``, ``timeframes``, ``params``, ``required_features`` and ``spec`` come from
    the spec, for catalogs that instantiate classes without arguments).
    """

    spec: ClassVar[StrategySpec]

    def __init__(self) -> None:
        if not isinstance(getattr(type(self), "spec", None), StrategySpec):
            raise TypeError("DslStrategy needs a spec: use DslStrategy.from_spec(spec)")

    source: ClassVar[str] = "dsl"
    source_path: ClassVar[str | None] = None

    @classmethod
    def class_from_spec(cls, spec: StrategySpec, path: str | Path | None = None) -> type[DslStrategy]:
        """A subclass of ``cls`` set up from ``spec`` (``path``: the spec file it came from, if any)."""
        numbers = {
            field: exit_spec.value
            for field, exit_spec in (("stop_loss_pct", spec.stop_loss), ("take_profit_pct", spec.take_profit))
            if exit_spec is not None and exit_spec.kind == "pct" and not isinstance(exit_spec.value, str)
        }
        attributes = {
            "__module__": __name__,
            "__doc__": spec.description or f"DSL strategy {spec.name}",
            "spec": spec,
            "source_path": str(Path(path).resolve()) if path is not None else None,
            "name": spec.name,
            "description": spec.description,
            "timeframes": spec.timeframes,
            "params": {name: p.to_param() for name, p in spec.params.items()},
            "required_features": tuple(spec.feature_names()),
            "stop_loss_pct": numbers.get("stop_loss_pct"),
            "take_profit_pct": numbers.get("take_profit_pct"),
            "max_hold_bars": spec.max_hold_bars if isinstance(spec.max_hold_bars, int) else None,
        }
        return type(f"DslStrategy_{spec.name}", (cls,), attributes)

    @classmethod
    def from_spec(cls, spec: StrategySpec) -> DslStrategy:
        """An instance of :meth:`class_from_spec`."""
        return cls.class_from_spec(spec)()

    def __reduce__(self) -> tuple[Any, ...]:  # the class is made at run time: pickle the spec instead
        return _strategy_from_spec, (self.spec,)

    def __repr__(self) -> str:
        return f"DslStrategy({self.name!r})"

    @staticmethod
    def _resolve(value: Any, params: Mapping[str, ParamValue]) -> Any:
        return params[value[1:]] if isinstance(value, str) else value

    def risk(self, params: Mapping[str, ParamValue]) -> RiskRules:
        """Percent stops/targets and ``max_hold_bars`` (``$param`` values resolved); ATR-based exits are
        per-bar columns of the signals instead."""
        spec = self.spec
        pct = {
            field: float(self._resolve(e.value, params))
            for field, e in (("stop_loss_pct", spec.stop_loss), ("take_profit_pct", spec.take_profit))
            if e is not None and e.kind == "pct"
        }
        hold = self._resolve(spec.max_hold_bars, params)
        return RiskRules(
            stop_loss_pct=pct.get("stop_loss_pct"),
            take_profit_pct=pct.get("take_profit_pct"),
            max_hold_bars=int(hold) if hold else None,
        )

    def generate_signals(self, features: pd.DataFrame, params: Mapping[str, ParamValue]) -> pd.DataFrame:
        spec = self.spec
        columns: dict[str, Any] = {
            field: _evaluate(condition, features, params).to_numpy(dtype=bool) for field, condition in spec.conditions()
        }
        atr = {
            column: float(self._resolve(e.value, params))
            for column, e in (("stop_loss_pct", spec.stop_loss), ("take_profit_pct", spec.take_profit))
            if e is not None and e.kind == "atr"
        }
        if atr:
            exits = atr_exits(features, atr.get("stop_loss_pct", 0.0), atr.get("take_profit_pct", 0.0), ATR_FEATURE)
            columns.update({column: np.asarray(exits[column]) for column in atr})
        return signal_frame(features.index, **columns)


def _strategy_from_spec(spec: StrategySpec) -> DslStrategy:
    return DslStrategy.from_spec(spec)


def strategy_from_file(path: str | Path) -> DslStrategy:
    """:func:`load_strategy_spec` then :meth:`DslStrategy.from_spec`."""
    return DslStrategy.class_from_spec(load_strategy_spec(path), path)()
