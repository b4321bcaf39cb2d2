"""Compute every cell of workbook.json with LibreOffice and store the values in expected.json.

Needs LibreOffice (`scripts/install_system.sh libreoffice-calc-nogui`) and
openpyxl; the tests only read the stored expected.json, so CI needs neither.

    .venv/bin/python tests/data/formulas/regenerate.py

Dates (`{"date": "YYYY-MM-DD"}` in workbook.json) are written as dates; a
result LibreOffice shows as a date is stored as `{"date": serial number}`.
Functions newer than Excel 2007 are written with the `_xlfn.` prefix Excel
files give them (without it LibreOffice does not know IFS or TEXTJOIN in an
xlsx file). A cell listed in `stand_ins` is computed from the formula given
there: LibreOffice 7.4 has no XLOOKUP or XMATCH, so those cells hold a
formula of the functions it has that means the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
from openpyxl.utils.escape import unescape

HERE = Path(__file__).resolve().parent
EPOCH = dt.datetime(1899, 12, 30)
NEWER_FUNCTIONS = ("IFS", "SWITCH", "MAXIFS", "MINIFS", "TEXTJOIN", "CONCAT", "XOR", "IFNA", "DAYS", "XLOOKUP",
                   "XMATCH")
_NEWER = re.compile(r'("(?:[^"]|"")*")|\b(' + "|".join(NEWER_FUNCTIONS) + r')\(')


def excel_formula(text: str) -> str:
    """`text` with the functions newer than Excel 2007 written `_xlfn.NAME(`, string constants left alone."""
    return _NEWER.sub(lambda m: m.group(1) or f"_xlfn.{m.group(2)}(", text)


def write_workbook(rows: list[list[object]], path: Path, stand_ins: dict[str, str] | None = None) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            name = f"{openpyxl.utils.get_column_letter(c)}{r}"
            value = (stand_ins or {}).get(name, value)
            if value is None:
                continue
            cell = sheet.cell(row=r, column=c)
            if isinstance(value, dict):
                cell.value = dt.date.fromisoformat(value["date"])
                cell.number_format = "yyyy-mm-dd"
            else:
                cell.value = excel_formula(value) if isinstance(value, str) and value.startswith("=") else value
    book.save(path)


def stored(value: object) -> object:
    """A value as expected.json keeps it: a date (or date and time) as {"date": serial number}."""
    if isinstance(value, dt.datetime):
        return {"date": round((value - EPOCH).total_seconds() / 86400, 10)}
    if isinstance(value, str):
        return unescape(value)  # xlsx writes control characters as _x0000_
    if isinstance(value, dt.time):
        return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400
    return value


def soffice_convert(source: Path, target: str, outdir: Path, workdir: Path) -> Path:
    subprocess.run(
        ["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{workdir}/profile",
         "--convert-to", target, "--outdir", str(outdir), str(source)],
        check=True, capture_output=True, timeout=180,
    )
    return outdir / f"{source.stem}.{target.split(':')[0]}"


def computed_values(source: Path, workdir: Path) -> list[list[object]]:
    """LibreOffice loads the workbook (computing every formula) and saves it; the values are read back.

    Typed values come from the saved xlsx; error cells from the CSV, which keeps
    LibreOffice's own error names (xlsx writes Err:522, a circular reference, as #VALUE!).
    """
    ods = soffice_convert(source, "ods", workdir / "ods", workdir)
    xlsx = soffice_convert(ods, "xlsx", workdir / "out", workdir)
    shown = soffice_convert(ods, "csv:Text - txt - csv (StarCalc):44,34,76", workdir / "out", workdir)
    texts = list(csv.reader(shown.read_text(encoding="utf-8").splitlines()))
    sheet = openpyxl.load_workbook(xlsx, data_only=True).active
    values = []
    for r, row in enumerate(sheet.iter_rows()):
        values.append([
            texts[r][c] if isinstance(cell.value, str) and cell.value.startswith("#") else cell.value
            for c, cell in enumerate(row)
        ])
    return values


def main() -> int:
    spec = json.loads((HERE / "workbook.json").read_text())
    rows = spec["rows"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = workdir / "workbook.xlsx"
        write_workbook(rows, source, spec.get("stand_ins"))
        values = computed_values(source, workdir)
    version = subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout.strip()
    expected = {}
    for r, row in enumerate(rows):
        for c, raw in enumerate(row):
            if isinstance(raw, str) and raw.startswith("="):
                value = values[r][c] if r < len(values) and c < len(values[r]) else None
                expected[f"{openpyxl.utils.get_column_letter(c + 1)}{r + 1}"] = stored(value)
    (HERE / "expected.json").write_text(json.dumps({"engine": version, "values": expected}, indent=1) + "\n")
    print(f"wrote {len(expected)} values computed by {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
