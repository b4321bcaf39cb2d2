"""End to end: a big table's panel is paged over the stream, and what is sent stays bounded."""

import asyncio
import json
from typing import Any

from harness.samples import sample_camera, sample_jpegs
from spatial.client import StreamClient
from spatial.render.layout import MAX_CONTENT_BYTES

MARKER = "marker:aruco/7"
ROWS = 2_000


def pin_a_big_table(server: Any) -> tuple[str, list[str]]:
    """A table of 2,000 rows with long texts, pinned to marker 7 (with the demo's note and table)."""
    with server.rest() as rest:
        table = rest.post("/v1/blocks", json={"kind": "table", "title": "Inventory", "content": {
            "fields": [{"name": "part", "type": "text"}, {"name": "qty", "type": "number"},
                       {"name": "note", "type": "text"}],
            "rows": [{"part": f"part {r + 1}", "qty": r, "note": "a long remark " * 20} for r in range(ROWS)],
        }}, timeout=60).json()
        assert rest.post(f"/v1/objects/{MARKER}/anchors", json={"block_id": table["id"]}).status_code == 201
        rows = [r["id"] for r in rest.get(f"/v1/tables/{table['id']}").json()["rows"]]
    return table["id"], rows


def shown_rows(overlay: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(op["ref"]["row"] for op in overlay["content"]["ops"] if "row" in op.get("ref", {})))


def test_a_page_message_shows_another_window_of_rows_and_only_that_window_is_sent(server) -> None:
    table_id, rows = pin_a_big_table(server)
    jpegs = list(sample_jpegs())

    async def scenario() -> None:
        client = await StreamClient.open(server.ws_url, server.token, sample_camera())
        frame = 0

        async def overlays() -> dict[str, Any]:
            nonlocal frame
            for _ in range(30):
                frame += 1
                assert (await client.frame(frame, jpegs[frame % len(jpegs)]))["type"] == "objects"
                try:
                    return await client.next_of("overlays", timeout=0.3)
                except asyncio.TimeoutError:
                    continue
            raise AssertionError("no overlays came")

        first = await overlays()
        (panel,) = [o for o in first["added"] if o["block_id"] == table_id]
        assert shown_rows(panel) == rows[:20]
        texts = [op.get("text") for op in panel["content"]["ops"]]
        assert f"rows 1-20 of {ROWS:,}".replace(",", "") in texts
        assert len(json.dumps(panel["content"], separators=(",", ":"), ensure_ascii=False).encode()) <= MAX_CONTENT_BYTES

        await client.send_json({"type": "page", "id": "g1", "overlay": panel["id"], "first": 1_000})
        paged = await overlays()
        assert [o["id"] for o in paged["updated"]] == [panel["id"]] and not paged["added"] and not paged["removed"]
        assert shown_rows(paged["updated"][0]) == rows[1_000:1_020]
        assert "rows 1001-1020 of 2000" in [op.get("text") for op in paged["updated"][0]["content"]["ops"]]

        await client.send_json({"type": "page", "id": "g2", "overlay": "anc_nothing", "first": 20})
        error = await client.next_of("error")
        assert (error["code"], error["ref"]) == ("unknown_overlay", "g2")
        await client.send_json({"type": "page", "id": "g3", "overlay": panel["id"], "first": -1})
        error = await client.next_of("error")
        assert (error["code"], error["ref"]) == ("bad_message", "g3") and "first" in error["message"]
        assert (await client.frame(frame + 1, jpegs[0]))["type"] == "objects", "the session goes on"
        await client.close()

    asyncio.run(scenario())
