"""Logical functions, and the ones that test or catch errors.

IF, IFS, SWITCH, CHOOSE, IFERROR, IFNA and the IS functions are lazy: they get
their arguments unevaluated, so a branch not taken is never computed and an
error (a circular reference included) can be caught before it spreads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from anchors.sheets.cell_values import NA, NUM, VALUE, CellError, Failure, compare, failure, to_number, truth
from anchors.sheets.functions.registry import cells, every, sheet_function

Node = tuple[Any, ...]


def _logicals(args: Sequence[Any], name: str) -> list[bool]:
    """Numbers and logicals among the arguments; text in cells is skipped, text given directly is an error."""
    found: list[bool] = []
    for from_reference, value in cells(args):
        if isinstance(value, CellError):
            raise Failure(value)
        if isinstance(value, (int, float)):
            found.append(value != 0)
        elif isinstance(value, str) and not from_reference:
            raise failure(VALUE, f"{name} takes logical values, not the text {value!r}")
    if not found:
        raise failure(VALUE, f"{name} got no logical values")
    return found


@sheet_function("AND", refs=every)
def all_of(*args: Any) -> bool:
    return all(_logicals(args, "AND"))


@sheet_function("OR", refs=every)
def any_of(*args: Any) -> bool:
    return any(_logicals(args, "OR"))


@sheet_function("XOR", refs=every)
def one_of(*args: Any) -> bool:
    return sum(_logicals(args, "XOR")) % 2 == 1


@sheet_function("NOT")
def negation(value: Any) -> bool:
    return not truth(value)


@sheet_function("TRUE")
def true() -> bool:
    return True


@sheet_function("FALSE")
def false() -> bool:
    return False


@sheet_function("NA")
def not_available() -> CellError:
    raise failure(NA, "NA(): no value is available")


def _arity(args: Sequence[Node], low: int, high: int, name: str) -> None:
    if not low <= len(args) <= high:
        raise failure(VALUE, f"{name} takes {low} to {high} arguments, got {len(args)}")


@sheet_function("IF", lazy=True)
def if_(ev: Any, args: Sequence[Node], as_ref: bool) -> Any:
    _arity(args, 1, 3, "IF")
    if truth(ev.scalar(args[0])):
        return ev.value(args[1], as_ref) if len(args) > 1 else True
    return ev.value(args[2], as_ref) if len(args) > 2 else False


@sheet_function("IFS", lazy=True)
def ifs(ev: Any, args: Sequence[Node], as_ref: bool) -> Any:
    if not args or len(args) % 2:
        raise failure(VALUE, "IFS takes pairs of a condition and a value")
    for condition, result in zip(args[::2], args[1::2]):
        if truth(ev.scalar(condition)):
            return ev.value(result, as_ref)
    raise failure(NA, "IFS: no condition is true")


@sheet_function("SWITCH", lazy=True)
def switch(ev: Any, args: Sequence[Node], as_ref: bool) -> Any:
    if len(args) < 3:
        raise failure(VALUE, "SWITCH takes a value, then pairs of a case and a result, then maybe a default")
    subject = ev.scalar(args[0])
    pairs = args[1:]
    for case, result in zip(pairs[::2], pairs[1::2]):
        if compare(subject, ev.scalar(case)) == 0:
            return ev.value(result, as_ref)
    if len(pairs) % 2:
        return ev.value(pairs[-1], as_ref)
    raise failure(NA, "SWITCH: no case matches")


@sheet_function("CHOOSE", lazy=True)
def choose(ev: Any, args: Sequence[Node], as_ref: bool) -> Any:
    if len(args) < 2:
        raise failure(VALUE, "CHOOSE takes an index and at least one value")
    position = int(to_number(ev.scalar(args[0])))
    if not 1 <= position < len(args):
        raise failure(NUM, f"CHOOSE: the index {position} is not between 1 and {len(args) - 1}")
    return ev.value(args[position], as_ref)


def _catching(test: Callable[[CellError], bool], name: str) -> Callable[..., Any]:
    def call(ev: Any, args: Sequence[Node], as_ref: bool) -> Any:
        _arity(args, 2, 2, name)
        value = ev.attempt(args[0])
        return ev.value(args[1], as_ref) if isinstance(value, CellError) and test(value) else value

    return call


sheet_function("IFERROR", lazy=True)(_catching(lambda error: True, "IFERROR"))
sheet_function("IFNA", lazy=True)(_catching(lambda error: error.code == NA, "IFNA"))


def _testing(test: Callable[[Any], bool], name: str) -> Callable[..., Any]:
    def call(ev: Any, args: Sequence[Node], as_ref: bool) -> bool:
        _arity(args, 1, 1, name)
        return test(ev.attempt(args[0]))

    return call


IS_FUNCTIONS: dict[str, Callable[[Any], bool]] = {
    "ISERROR": lambda v: isinstance(v, CellError),
    "ISERR": lambda v: isinstance(v, CellError) and v.code != NA,
    "ISNA": lambda v: isinstance(v, CellError) and v.code == NA,
    "ISBLANK": lambda v: v is None,
    "ISNUMBER": lambda v: isinstance(v, (int, float)),
    "ISTEXT": lambda v: isinstance(v, str),
    "ISNONTEXT": lambda v: not isinstance(v, str),
    "ISLOGICAL": lambda v: isinstance(v, bool),
}
for _name, _test in IS_FUNCTIONS.items():
    sheet_function(_name, lazy=True)(_testing(_test, _name))
