"""Import and export: tables as CSV, pages as Markdown.

CSV export writes what a reader sees: computed values, an error as its code.
CSV import infers each field's type from its cells (numbers, true/false,
YYYY-MM-DD dates, else text) and keeps formulas (cells starting with `=`).
A page exports as Markdown with its children in order: text as is, tables and
views as pipe tables (a kanban as one section per column), sub-pages as
deeper headings. Markdown import makes a page whose `# ` heading is its title,
each pipe table a table block and the text between them markdown blocks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import TYPE_CHECKING, Any, Protocol

from anchors.errors import BlockShapeError
from anchors.model import Block, User
from anchors.views import display_text

if TYPE_CHECKING:
    from anchors.blocks import BlockService
    from anchors.engine import TableValues
    from anchors.executors import Outcome

MAX_IMPORT_CELLS = 200_000


def table_csv(values: TableValues) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in values.fields]
    writer.writerow(names)
    for row in values.values:
        writer.writerow([_csv_cell(row.values.get(n)) for n in names])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return display_text(value) if not isinstance(value, (int, float)) else value


def _typed(text: str) -> Any:
    """A CSV or Markdown cell as the value it spells."""
    text = text.strip()
    if text == "":
        return None
    if text.startswith("="):
        return text
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number


def _field_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None and not (isinstance(v, str) and v.startswith("="))]
    if not present:
        return "text"
    if all(isinstance(v, bool) for v in present):
        return "checkbox"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "number"
    if all(isinstance(v, str) and _is_date(v) for v in present):
        return "date"
    return "text"


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def table_from_rows(header: list[str], rows: list[list[str]]) -> dict[str, Any]:
    """Table creation content from a header and text cells, types inferred per field."""
    if not header or any(not h.strip() for h in header):
        raise BlockShapeError("the first line must name every field")
    if len(rows) * len(header) > MAX_IMPORT_CELLS:
        raise BlockShapeError(f"a table import is limited to {MAX_IMPORT_CELLS} cells")
    width = len(header)
    typed = []
    for i, row in enumerate(rows):
        if len(row) > width:
            raise BlockShapeError(f"line {i + 2} has {len(row)} cells, the header has {width}")
        typed.append([_typed(c) for c in row] + [None] * (width - len(row)))
    kinds = [_field_type([r[j] for r in typed]) for j in range(width)]
    fields = [{"name": name.strip(), "type": kind} for name, kind in zip(header, kinds)]
    out_rows = []
    for row in typed:
        cells = {}
        for f, value in zip(fields, row):
            if value is not None and f["type"] == "text" and not isinstance(value, str):
                value = ("TRUE" if value else "FALSE") if isinstance(value, bool) else display_text(value)
            cells[f["name"]] = value
        out_rows.append(cells)
    return {"fields": fields, "rows": out_rows}


def table_from_csv(text: str) -> dict[str, Any]:
    lines = list(csv.reader(io.StringIO(text)))
    lines = [line for line in lines if any(cell.strip() for cell in line)]
    if not lines:
        raise BlockShapeError("the CSV is empty; its first line names the fields")
    return table_from_rows(lines[0], lines[1:])


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


class PageValues(Protocol):
    """What a page's Markdown shows computed (a `ComputeService`): views shaped, compute blocks' results."""

    def view(self, user: User, view_id: str) -> dict[str, Any]: ...

    def result(self, user: User, block_id: str) -> Outcome: ...


def page_markdown(blocks: BlockService, user: User, page: Block, compute: PageValues, depth: int = 1) -> str:
    """The page and its children, in order, as one Markdown document."""
    lines = [f"{'#' * min(depth, 6)} {page.title or 'Untitled'}", ""]
    for child in blocks.children(user, page.id):
        lines += _child_markdown(blocks, user, child, compute, depth + 1)
    return "\n".join(lines).rstrip() + "\n"


def _child_markdown(blocks: BlockService, user: User, child: Block, compute: PageValues, depth: int) -> list[str]:
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
