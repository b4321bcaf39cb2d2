"""REST API for formulas and compute: /v1/compute, /v1/blocks/{id}/result, /v1/tables/{id}/evaluate."""

from __future__ import annotations

from fastapi import APIRouter

from anchors import CellError
from spatial.api import schemas as s
from spatial.api.rest import Me
from spatial.api.views import Compute

router = APIRouter(prefix="/v1")


@router.get("/compute/functions", tags=["compute"])
def functions(user: Me, engine: Compute) -> list[s.FunctionOut]:
    """The functions compute blocks and compute cells may call."""
    return [s.FunctionOut(name=r.name, doc=r.doc) for r in engine.registry.all()]


@router.get("/blocks/{block_id}/result", tags=["compute"])
def result(block_id: str, user: Me, engine: Compute) -> s.ResultOut:
    """Run a compute block now if its triggers say so, and return its result (cached by inputs)."""
    outcome = engine.result(user, block_id)
    function = engine.blocks.read_block(user, block_id).content["function"]
    return s.ResultOut(block_id=block_id, function=function, value=outcome.value, error=outcome.error)


@router.post("/tables/{table_id}/evaluate", tags=["compute"])
def evaluate(table_id: str, body: s.FormulaIn, user: Me, engine: Compute) -> s.ValueOut:
    """Evaluate a formula against a table without storing it."""
    value = engine.evaluate_formula(user, table_id, body.formula, body.row)
    if isinstance(value, CellError):
        return s.ValueOut(error=s.CellError(**value.to_json()))
    return s.ValueOut(value=value)
