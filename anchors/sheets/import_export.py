"""Import and export: tables as CSV (and grids pasted from a spreadsheet), pages as Markdown.

CSV export writes what a reader sees: computed values, an error as its code, a
date as YYYY-MM-DD; text that would read back as another value (`007`,
`TRUE`) as the formula `="007"`, which spreadsheets read as that text.
CSV import and a pasted grid (tab-separated, as spreadsheets copy cells) read
each cell as a spreadsheet does (`anchors.sheets.cell_text.typed_from_text`: numbers,
`1,234.5`, `45%`, TRUE/FALSE, dates, formulas) and give each field the type
its cells share; a field whose cells mix types is `any` and keeps each value.
XLSX is in `anchors.sheets.xlsx`.
A page exports as Markdown with its children in order: text as is, tables and
views as pipe tables (a kanban as one section per column), sub-pages as
deeper headings. Markdown import makes a page whose `# ` heading is its title,
each pipe table a table block and the text between them markdown blocks.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import TYPE_CHECKING, Any, Protocol

from anchors.errors import BlockShapeError
from anchors.model import Block, User
from anchors.sheets.cell_text import typed_from_text
from anchors.sheets.cell_values import Date
from anchors.sheets.formulas import column_letter
from anchors.sheets.tables import infer_type, is_date_value, is_formula
from anchors.views import TableValues, display_text

if TYPE_CHECKING:
    from anchors.blocks import BlockService
    from anchors.compute.executors import Outcome

MAX_IMPORT_CELLS = 200_000


def table_csv(values: TableValues) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in values.fields]
    writer.writerow(names)
    dates = {f.name for f in values.fields if f.type == "date"}
    for row in values.values:
        writer.writerow([_csv_cell(row.values.get(n), n in dates) for n in names])
    return out.getvalue()


def _csv_cell(value: Any, date_field: bool = False) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str) and not date_field and typed_from_text(value) != value and value.strip():
        return '="' + value.replace('"', '""') + '"'
    if isinstance(value, (int, float)) and not isinstance(value, Date):
        return value
    return display_text(value)


_TEXT_FORMULA = re.compile(r'^="((?:[^"]|"")*)"$')


def _typed(text: str) -> Any:
    """A CSV, pasted or Markdown cell as the value it spells; `="text"` is that text."""
    quoted = _TEXT_FORMULA.match(text.strip())
    if quoted:
        return quoted.group(1).replace('""', '"')
    return typed_from_text(text)


def field_type(values: list[Any]) -> str:
    """The type of a field whose cells are `values`: dates without a time make a date field."""
    present = [v for v in values if v is not None and not is_formula(v)]
    if present and all(is_date_value(v) and "T" not in v["date"] for v in present):
        return "date"
    return infer_type(values)


def stored_cell(kind: str, value: Any) -> Any:
    """A typed cell as a field of `kind` stores it."""
    if kind == "date" and is_date_value(value):
        return value["date"]
    if kind == "text" and value is not None and not isinstance(value, str):
        return display_text(value)
    return value


def table_from_rows(header: list[str] | None, rows: list[list[str]]) -> dict[str, Any]:
    """Table creation content from text cells, types inferred per field; without a `header`
    the fields are named A, B, C... as a spreadsheet's columns."""
    width = len(header) if header is not None else max((len(r) for r in rows), default=0)
    if header is not None and (not header or any(not h.strip() for h in header)):
        raise BlockShapeError("the first line must name every field")
    if not width:
        raise BlockShapeError("the grid has no cells")
    if len(rows) * width > MAX_IMPORT_CELLS:
        raise BlockShapeError(f"a table import is limited to {MAX_IMPORT_CELLS} cells")
    names = [h.strip() for h in header] if header is not None else [column_letter(i) for i in range(width)]
    typed = []
    for i, row in enumerate(rows):
        if len(row) > width:
            raise BlockShapeError(f"line {i + 2} has {len(row)} cells, the header has {width}")
        typed.append([_typed(c) for c in row] + [None] * (width - len(row)))
    kinds = [field_type([r[j] for r in typed]) for j in range(width)]
    fields = [{"name": name, "type": kind} for name, kind in zip(names, kinds)]
    out_rows = [{f["name"]: stored_cell(f["type"], value) for f, value in zip(fields, row)} for row in typed]
    return {"fields": fields, "rows": out_rows}


def _grid(text: str, delimiter: str) -> list[list[str]]:
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    return [line for line in lines if any(cell.strip() for cell in line)]


def table_from_csv(text: str) -> dict[str, Any]:
    lines = _grid(text, ",")
    if not lines:
        raise BlockShapeError("the CSV is empty; its first line names the fields")
    return table_from_rows(lines[0], lines[1:])


def table_from_pasted(text: str, header: bool = True) -> dict[str, Any]:
    """A grid copied from a spreadsheet (cells separated by tabs, rows by line breaks) as a table;
    with `header` its first row names the fields."""
    lines = _grid(text, "\t")
    if not lines:
        raise BlockShapeError("the pasted grid is empty")
    return table_from_rows(lines[0], lines[1:]) if header else table_from_rows(None, lines)


# ---------------------------------------------------------------- markdown


def _pipe_row(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _pipe_line(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _pipe_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    return [_pipe_line(columns), "| " + " | ".join("---" for _ in columns) + " |", *(_pipe_line(r) for r in rows)]


def shaped_markdown(shaped: dict[str, Any], depth: int) -> list[str]:
    """A shaped view (see anchors.views.shape) as Markdown lines."""
    hashes = "#" * min(depth, 6)
    layout = shaped["layout"]
    if layout == "grid":
        return _pipe_table(shaped["columns"], shaped["rows"])
    if layout == "kanban":
        lines: list[str] = []
        for lane in shaped["lanes"]:
            lines += [f"{hashes} {lane['name']}", ""]
            lines += [f"- **{c['title']}**" + (f" ({'; '.join(c['lines'])})" if c["lines"] else "") for c in lane["cards"]]
            lines.append("")
        return lines
    if layout == "wiki":
        lines = []
        for section in shaped["sections"]:
            lines += [f"{hashes} {section['heading']}", "", *section["lines"], ""]
        return lines
    return [f"- {item['title']}" + (f": {item['detail']}" if item["detail"] else "") for item in shaped["items"]]


class ChildBlocks(Protocol):
    """Where a page's children are read from (a `BlockService`)."""

    def children(self, user: User, block_id: str) -> list[Block]: ...


class PageValues(Protocol):
    """What a page's Markdown shows computed (a `ComputeService`): views shaped, compute blocks' results."""

    def view(self, user: User, view_id: str) -> dict[str, Any]: ...

    def result(self, user: User, block_id: str) -> Outcome: ...


def page_markdown(blocks: ChildBlocks, user: User, page: Block, compute: PageValues, depth: int = 1) -> str:
    """The page and its children, in order, as one Markdown document."""
    lines = [f"{'#' * min(depth, 6)} {page.title or 'Untitled'}", ""]
    for child in blocks.children(user, page.id):
        lines += _child_markdown(blocks, user, child, compute, depth + 1)
    return "\n".join(lines).rstrip() + "\n"


def _child_markdown(blocks: ChildBlocks, user: User, child: Block, compute: PageValues, depth: int) -> list[str]:
    heading = [f"{'#' * min(depth, 6)} {child.title}", ""] if child.title else []
    if child.kind == "page":
        return [page_markdown(blocks, user, child, compute, depth), ""]
    if child.kind == "markdown":
        return [*heading, child.content.rstrip(), ""]
    if child.kind in ("table", "view"):
        return [*heading, *shaped_markdown(compute.view(user, child.id), depth + 1), ""]
    if child.kind == "compute":
        outcome = compute.result(user, child.id)
        body = json.dumps(outcome.value, indent=2) if outcome.ok else f"error: {outcome.error}"
        return [*heading, "```json" if outcome.ok else "```", body, "```", ""]
    return [*heading, "```json", json.dumps(child.content, indent=2), "```", ""]


def _is_rule(line: str) -> bool:
    """The line under a pipe table's header: `| --- | :--: |`."""
    return "-" in line and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", line) is not None


def markdown_parts(text: str) -> tuple[str, list[tuple[str, Any]]]:
    """A Markdown document as (title, [(kind, content)]): pipe tables become tables, the rest markdown."""
    lines = text.splitlines()
    title = ""
    for i, line in enumerate(lines):
        if line.startswith("# "):
            title = line[2:].strip()
            del lines[i]
            break
        if line.strip():
            break
    parts: list[tuple[str, Any]] = []
    prose: list[str] = []

    def flush() -> None:
        body = "\n".join(prose).strip()
        if body:
            parts.append(("markdown", body))
        prose.clear()

    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and _is_rule(lines[i + 1]):
            flush()
            header = _pipe_row(lines[i])
            i += 2
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_pipe_row(lines[i]))
                i += 1
            parts.append(("table", table_from_rows(header, rows)))
            continue
        prose.append(lines[i])
        i += 1
    flush()
    return title, parts


def import_markdown_page(blocks: BlockService, user: User, text: str, title: str | None = None) -> Block:
    """Create a page from a Markdown document (see `markdown_parts`)."""
    found_title, parts = markdown_parts(text)
    page = blocks.create_block(user, "page", title or found_title or "Imported page", {})
    for kind, content in parts:
        blocks.create_block(user, kind, "", content, parent=page.id)
    return blocks.read_block(user, page.id)
