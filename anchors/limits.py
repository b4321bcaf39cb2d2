"""The sizes and counts the services check before anything is written (`TooLarge`, `TooManyBlocks`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_title_chars: int = 200
    max_block_content_bytes: int = 256 * 1024
    """A block's content as compact JSON (UTF-8); a table's rows count one by one."""
    max_blocks_per_object: int = 64
    """Anchors one user may put on one object (or one `class:` key)."""
    max_map_points: int = 200_000
    """Points in one space's map (12 bytes each stored)."""
