"""Compute every cell of workbook.json with LibreOffice and store the values in expected.json.

Needs LibreOffice (`apt-get install libreoffice-calc-nogui`) and openpyxl; the
tests only read the stored expected.json, so CI needs neither.

    .venv/bin/python tests/data/formulas/regenerate.py
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent


def write_workbook(rows: list[list[object]], path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=r, column=c, value=value)
    book.save(path)


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
    shown = soffice_convert(ods, "csv", workdir / "out", workdir)
    texts = list(csv.reader(shown.read_text().splitlines()))
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
        write_workbook(rows, source)
        values = computed_values(source, workdir)
    version = subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout.strip()
    expected = {}
    for r, row in enumerate(rows):
        for c, raw in enumerate(row):
            if isinstance(raw, str) and raw.startswith("="):
                value = values[r][c] if r < len(values) and c < len(values[r]) else None
                expected[f"{openpyxl.utils.get_column_letter(c + 1)}{r + 1}"] = value
    (HERE / "expected.json").write_text(json.dumps({"engine": version, "values": expected}, indent=1) + "\n")
    print(f"wrote {len(expected)} values computed by {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
