"""REST API for tables, views and import/export: /v1/tables, /v1/views, /v1/pages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from anchors import BlockShapeError, CellError, ComputeService, TableValues
from anchors.sheets.cell_values import Date
from anchors.sheets.import_export import import_markdown_page, page_markdown, table_csv, table_from_csv, table_from_pasted
from anchors.sheets.xlsx import XLSX_MEDIA_TYPE, table_from_xlsx, table_xlsx
from spatial.api import schemas as s
from spatial.api.rest import Blocks, Me

router = APIRouter(prefix="/v1")
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def compute(request: Request) -> ComputeService:
    return request.app.state.services.compute


Compute = Annotated[ComputeService, Depends(compute)]


def _plain(value: Any) -> Any:
    """A computed value as JSON: a date as {"date": "YYYY-MM-DD"}, an error as null (it is in `errors`)."""
    if isinstance(value, CellError):
        return None
    if isinstance(value, Date):
        return value.to_json()
    return value


def table_out(values: TableValues) -> s.TableOut:
    rows = []
    for block, computed in zip(values.rows, values.values):
        errors = {k: s.CellError(**v.to_json()) for k, v in computed.values.items() if isinstance(v, CellError)}
        plain = {k: _plain(v) for k, v in computed.values.items()}
        rows.append(s.RowOut(id=block.id, version=block.version, cells=block.content["cells"], values=plain, errors=errors))
    return s.TableOut(table=s.BlockOut.of(values.table), fields=values.table.content["fields"], rows=rows)


async def bytes_body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise BlockShapeError(f"the body is {len(body)} bytes, over the import limit of {MAX_IMPORT_BYTES}")
    return body


async def text_body(request: Request) -> str:
    body = await bytes_body(request)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BlockShapeError("the body must be UTF-8 text") from None


@router.get("/tables/{table_id}", tags=["tables"])
def read_table(table_id: str, user: Me, engine: Compute) -> s.TableOut:
    """The table's fields and rows, with each cell's stored content, computed value and error."""
    return table_out(engine.table(user, table_id))


@router.post("/tables/{table_id}/rows", status_code=201, tags=["tables"])
def add_rows(table_id: str, body: s.RowsIn, user: Me, blocks: Blocks) -> list[s.BlockOut]:
    return [s.BlockOut.of(b) for b in blocks.add_rows(user, table_id, body.rows, body.index)]


@router.patch("/tables/{table_id}/rows/{row_id}", tags=["tables"])
def update_cells(table_id: str, row_id: str, body: s.CellsIn, user: Me, blocks: Blocks) -> s.BlockOut:
    """Set some cells of a row; with `version`, a stale edit is refused (409)."""
    row = blocks.read_block(user, row_id)
    if row.parent != table_id:
        raise BlockShapeError(f"row {row_id} is not in table {table_id}")
    return s.BlockOut.of(blocks.update_cells(user, row_id, body.cells, body.version))


@router.get("/views/{block_id}", tags=["views"])
def read_view(block_id: str, user: Me, engine: Compute) -> dict[str, Any]:
    """A view (or a table, as a grid) shaped for display: grid, kanban lanes, wiki sections or list items."""
    return engine.view(user, block_id)


@router.get("/blocks/{block_id}/display", tags=["views"])
def display(block_id: str, user: Me, engine: Compute) -> s.DisplayOut:
    """The block as overlays show it: tables and views shaped, compute blocks run, pages as Markdown."""
    shown = engine.display(user, block_id)
    return s.DisplayOut(id=shown.id, kind=shown.kind, title=shown.title, content=shown.content)


@router.get("/tables/{table_id}/export.csv", tags=["import and export"])
def export_csv(table_id: str, user: Me, engine: Compute) -> Response:
    return Response(table_csv(engine.table(user, table_id)), media_type="text/csv; charset=utf-8")


@router.get("/tables/{table_id}/export.xlsx", tags=["import and export"])
def export_xlsx(table_id: str, user: Me, engine: Compute) -> Response:
    """The table as an XLSX workbook: field names in row 1, values and formulas under them."""
    return Response(table_xlsx(engine.table(user, table_id)), media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{table_id}.xlsx"'})


ImportFormat = Literal["csv", "tsv", "xlsx"]
_FORMATS: dict[str, ImportFormat] = {
    "text/csv": "csv", "text/tab-separated-values": "tsv", XLSX_MEDIA_TYPE: "xlsx",
}


@router.post("/tables/import", status_code=201, tags=["import and export"])
async def import_table(
    request: Request, user: Me, blocks: Blocks,
    title: Annotated[str, Query(max_length=200)] = "Imported table", parent: str | None = None,
    format: ImportFormat | None = None,
    header: Annotated[bool, Query(description="tsv: whether the first row names the fields (else A, B, C...)")] = True,
    sheet: Annotated[str | None, Query(max_length=100, description="xlsx: the sheet to read (default the first)")] = None,
) -> s.BlockOut:
    """A new table from a CSV body, a grid pasted from a spreadsheet (tab-separated) or an XLSX workbook.

    The format is `format`, else the Content-Type (`text/csv`, `text/tab-separated-values`,
    the XLSX type), else CSV. The first row names the fields; each cell is read as a
    spreadsheet reads it, and a field whose cells mix kinds has type `any`.
    """
    kind = format or _FORMATS.get(request.headers.get("content-type", "").split(";")[0].strip().lower(), "csv")
    if kind == "xlsx":
        content = table_from_xlsx(await bytes_body(request), sheet)
    elif kind == "tsv":
        content = table_from_pasted(await text_body(request), header)
    else:
        content = table_from_csv(await text_body(request))
    return s.BlockOut.of(blocks.create_block(user, "table", title, content, parent))


@router.get("/pages/{page_id}/export.md", tags=["import and export"])
def export_markdown(page_id: str, user: Me, blocks: Blocks, engine: Compute) -> Response:
    page = blocks.read_block(user, page_id)
    return Response(page_markdown(blocks, user, page, engine), media_type="text/markdown; charset=utf-8")


@router.post("/pages/import", status_code=201, tags=["import and export"])
async def import_page(
    request: Request, user: Me, blocks: Blocks, title: Annotated[str | None, Query(max_length=200)] = None,
) -> s.BlockOut:
    """A new page from a Markdown body: pipe tables become tables, the rest markdown blocks."""
    return s.BlockOut.of(import_markdown_page(blocks, user, await text_body(request), title))
