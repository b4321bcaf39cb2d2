"""What `spatial serve` prints, as a user starts it: the store, the detector and the address to open, then the
web server's own lines; nothing from the native libraries under MediaPipe (TensorFlow Lite, absl), no error,
and nothing from libraries that have nothing to tell the user, also once MediaPipe has run on frames."""

import asyncio
import re
from pathlib import Path

from harness.samples import sample_camera, sample_jpegs
from harness.servers import start_server, stop_server
from spatial.client import StreamClient

NOISE = re.compile(r"^[IWEF]\d{4} |TensorFlow Lite|absl::|matplotlib|ERROR|Traceback", re.MULTILINE)


def test_serve_says_what_a_user_needs_and_no_native_library_speaks(tmp_path: Path) -> None:
    server = start_server(tmp_path / "store.db", "--log-level", "info", detector="auto")
    try:
        async def frames() -> None:
            client = await StreamClient.open(server.ws_url, server.token, sample_camera())
            for index, jpeg in zip(range(12), sample_jpegs()):  # MediaPipe's graphs start on the first of them
                assert (await client.frame(index, jpeg))["type"] == "objects"
            await client.close()

        asyncio.run(frames())
    finally:
        stop_server(server)
    assert server.process.stdout is not None
    printed = "".join(server.printed) + server.process.stdout.read()
    lines = printed.splitlines()
    assert lines[0].startswith("Created the service key ")
    assert lines[1].startswith("Loaded the demo: a note and a table pinned to ArUco marker 7")
    assert re.match(r"Store: \S+store\.db +detector: auto +replica: \S+$", lines[2])
    assert re.match(r"Open http://127\.0\.0\.1:\d+/#token=\S+$", lines[3])
    assert not NOISE.search(printed), f"noise in the output:\n{printed}"
    assert "Uvicorn running on" in printed, "the web server's own lines stay"
