"""Thin clients: a session that asks for `raster` gets each overlay as an image as well as or instead of ops."""

import asyncio
import base64
import io

import pytest
from PIL import Image

from harness.samples import sample_camera, sample_jpegs
from spatial.client import StreamClient

MARKER = "marker:aruco/7"


async def overlays_for(server, capabilities: list[str] | None) -> tuple[dict, list[dict]]:
    client = await StreamClient.open(server.ws_url, server.token, hello=False)
    extra = {} if capabilities is None else {"capabilities": capabilities}
    welcome = await client.hello(server.token, sample_camera(), **extra)
    frame = next(iter(sample_jpegs()))
    await client.frame(1, frame)
    message = await client.next_of("overlays")
    await client.close()
    return welcome, [o for o in message["added"] if o["object_id"] == MARKER]


@pytest.mark.parametrize(
    "capabilities, named, ops, image_format, magic",
    [
        (None, ["vector"], True, None, None),
        (["raster"], ["raster"], False, "png", b"\x89PNG"),
        (["vector", "raster:webp"], ["vector", "raster:webp"], True, "webp", b"RIFF"),
    ],
)
def test_overlay_content_follows_the_hello_capabilities(server, capabilities, named, ops, image_format, magic) -> None:
    welcome, added = asyncio.run(overlays_for(server, capabilities))
    assert welcome["capabilities"] == named
    assert len(added) == 2
    for overlay in added:
        content = overlay["content"]
        assert ("ops" in content) is ops
        if image_format is None:
            assert "image" not in content
            continue
        image = content["image"]
        assert image["format"] == image_format and image["scale"] == 2.0
        data = base64.b64decode(image["data"])
        assert data.startswith(magic)
        assert Image.open(io.BytesIO(data)).size == (content["width"] * 2, content["height"] * 2)
