"""A small Python client for the REST API (docs/api.md, docs/blocks.md), on httpx.

    with RestClient("http://127.0.0.1:8000", token) as api:
        table = api.create_block("table", "Stock", {"columns": ["item", "qty"], "rows": [["beans", 2]]})
        api.add_rows(table["id"], [{"item": "milk", "qty": "=B2*2"}])
        print(api.table(table["id"])["rows"])

Every call returns the decoded JSON body (text for CSV and Markdown exports,
bytes for XLSX); an error response raises `ApiError` with its status, code
and message.
"""

from __future__ import annotations

from typing import Any

import httpx

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

class ApiError(RuntimeError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class RestClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text) from None
        if response.status_code == 204:
            return None
        media_type = response.headers.get("content-type", "")
        if media_type.startswith("application/json"):
            return response.json()
        return response.text if media_type.startswith("text/") else response.content

    # blocks
    def create_block(
        self, kind: str, title: str = "", content: Any = None, parent: str | None = None, index: int | None = None
    ) -> dict[str, Any]:
        body = {"kind": kind, "title": title, "content": content, "parent": parent, "index": index}
        return self._call("POST", "/v1/blocks", json=body)

    def block(self, block_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/blocks/{block_id}")

    def blocks(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/blocks")

    def children(self, block_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/blocks/{block_id}/children")

    def update_block(self, block_id: str, *, title: str | None = None, content: Any = None,
                     version: int | None = None) -> dict[str, Any]:
        body = {k: v for k, v in {"title": title, "content": content, "version": version}.items() if v is not None}
        return self._call("PATCH", f"/v1/blocks/{block_id}", json=body)

    def move_block(self, block_id: str, parent: str | None, index: int | None = None) -> dict[str, Any]:
        return self._call("POST", f"/v1/blocks/{block_id}/move", json={"parent": parent, "index": index})

    def delete_block(self, block_id: str) -> None:
        self._call("DELETE", f"/v1/blocks/{block_id}")

    def share(self, block_id: str, user: str, role: str = "read") -> None:
        self._call("POST", f"/v1/blocks/{block_id}/shares", json={"user": user, "role": role})

    def attach(self, block_id: str, object_id: str, pose: list[float] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"block_id": block_id} | ({"pose": pose} if pose is not None else {})
        return self._call("POST", f"/v1/objects/{object_id}/anchors", json=body)

    # tables and views
    def table(self, table_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/tables/{table_id}")

    def add_rows(self, table_id: str, rows: list[dict[str, Any]], index: int | None = None) -> list[dict[str, Any]]:
        return self._call("POST", f"/v1/tables/{table_id}/rows", json={"rows": rows, "index": index})

    def set_cells(self, table_id: str, row_id: str, cells: dict[str, Any], version: int | None = None) -> dict[str, Any]:
        return self._call("PATCH", f"/v1/tables/{table_id}/rows/{row_id}", json={"cells": cells, "version": version})

    def view(self, block_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/views/{block_id}")

    def display(self, block_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/blocks/{block_id}/display")

    # formulas and compute
    def evaluate(self, table_id: str, formula: str, row: int | None = None) -> dict[str, Any]:
        return self._call("POST", f"/v1/tables/{table_id}/evaluate", json={"formula": formula, "row": row})

    def result(self, block_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/blocks/{block_id}/result")

    def functions(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/compute/functions")

    # import and export
    def export_csv(self, table_id: str) -> str:
        return self._call("GET", f"/v1/tables/{table_id}/export.csv")

    def import_csv(self, text: str, title: str = "Imported table", parent: str | None = None) -> dict[str, Any]:
        params = {"title": title} | ({"parent": parent} if parent else {})
        return self._call("POST", "/v1/tables/import", params=params, content=text.encode(),
                          headers={"content-type": "text/csv"})

    def import_pasted(self, text: str, title: str = "Pasted table", header: bool = True) -> dict[str, Any]:
        """A table from cells copied from a spreadsheet (tab-separated)."""
        params = {"title": title, "header": str(header).lower()}
        return self._call("POST", "/v1/tables/import", params=params, content=text.encode(),
                          headers={"content-type": "text/tab-separated-values"})

    def export_xlsx(self, table_id: str) -> bytes:
        return self._call("GET", f"/v1/tables/{table_id}/export.xlsx")

    def import_xlsx(self, data: bytes, title: str = "Imported table", sheet: str | None = None) -> dict[str, Any]:
        params = {"title": title} | ({"sheet": sheet} if sheet else {})
        return self._call("POST", "/v1/tables/import", params=params, content=data,
                          headers={"content-type": XLSX_MEDIA_TYPE})

    def export_markdown(self, page_id: str) -> str:
        return self._call("GET", f"/v1/pages/{page_id}/export.md")

    def import_markdown(self, text: str, title: str | None = None) -> dict[str, Any]:
        params = {"title": title} if title else {}
        return self._call("POST", "/v1/pages/import", params=params, content=text.encode(),
                          headers={"content-type": "text/markdown"})
