"""docs/protocol.md's JSON examples are messages the models accept: the guide cannot drift from the wire."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from spatial.protocol import (
    CLIENT_TYPES,
    SERVER_MESSAGES,
    OverlayPanel,
    PanelContent,
    parse_client_message,
)

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
PARTS: tuple[type[BaseModel], ...] = (OverlayPanel, PanelContent)
"""Parts of a message that the guide shows on their own."""


def examples(section: str) -> list[dict[str, Any]]:
    """Every JSON object in the ```json blocks of one section of the guide, a block may hold several."""
    text = GUIDE.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = []
    decoder = json.JSONDecoder()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        block = block.strip()
        while block:
            value, end = decoder.raw_decode(block)
            found.append(value)
            block = block[end:].strip()
    return found


def check(example: dict[str, Any], from_server: bool) -> str:
    """Validate one example against its model; the message type it is (a part of a message: "part")."""
    kind = example.get("type")
    if kind is None:
        assert any(_valid(model, example) for model in PARTS), example
        return "part"
    if kind in CLIENT_TYPES and not (from_server and kind == "stats"):
        parse_client_message(json.dumps(example))
        return f"{kind} (client)"
    model = next(model for model in SERVER_MESSAGES if model.model_fields["type"].default == kind)
    model.model_validate(example)
    return kind


@pytest.mark.parametrize("section", ["Client to server", "Server to client"])
def test_every_example_is_a_valid_message_or_part(section: str) -> None:
    checked = [check(example, section == "Server to client") for example in examples(section)]
    assert len(checked) >= 6


def test_the_guide_shows_every_message() -> None:
    shown = {check(e, False) for e in examples("Client to server")} | {check(e, True) for e in examples("Server to client")}
    assert {f"{kind} (client)" for kind in CLIENT_TYPES if kind != "stats"} <= shown
    assert {model.model_fields["type"].default for model in SERVER_MESSAGES} <= shown
    assert "part" in shown


def _valid(model: type[BaseModel], example: dict[str, Any]) -> bool:
    try:
        model.model_validate(example)
    except ValueError:
        return False
    return True
