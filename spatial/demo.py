"""The demo a fresh store starts with: a note and a table pinned to ArUco marker 7."""

from __future__ import annotations

from anchors import BlockService, User

DEMO_OBJECT = "marker:aruco/7"

NOTE = """Print data/marker_sheet.pdf and show marker 7 to the camera.
- This note is a **markdown** block.
- Edit it through the REST API at /docs and watch it change here."""

TABLE = {
    "columns": ["item", "qty", "ok"],
    "rows": [["coffee beans", 2, True], ["milk", 1, False], ["filters", 40, True]],
}


def seed_demo(blocks: BlockService, owner: User) -> bool:
    """Pin the demo blocks to marker 7 if `owner` has no blocks yet; True when it did. `spatial serve` calls it
    when its start created `owner`, so of several replicas starting on a new store one loads it."""
    if blocks.list_blocks(owner):
        return False
    note = blocks.create_block(owner, "markdown", "Hello from marker 7", NOTE)
    table = blocks.create_block(owner, "table", "Kitchen stock", TABLE)
    blocks.attach(owner, note.id, DEMO_OBJECT)
    blocks.attach(owner, table.id, DEMO_OBJECT)
    return True
