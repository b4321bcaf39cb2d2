"""Sheets: the tables of blocks and what is computed from them.

This wing owns cells and their values (`cell_values`, `cell_text`: LibreOffice
Calc's errors, dates, coercions and number text), formulas (`formulas`) and the
spreadsheet functions they call (`functions`), a table's sheet of cells with
the dependency graph between its formulas (`sheet`), tables' typed fields
(`tables`), the engine that computes tables, shapes views and runs compute
blocks when asked (`engine`), and import and export: CSV, pasted grids and
Markdown pages (`import_export`) and XLSX workbooks (`xlsx`).
"""
