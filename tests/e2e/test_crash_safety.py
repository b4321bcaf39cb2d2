"""Every acknowledged write survives the server being killed with SIGKILL at random moments."""

import random
import signal
import threading
import time
from pathlib import Path

import httpx

from harness.servers import start_server


def write_until_killed(server, acknowledged: dict[str, str], stop: threading.Event, worker: int) -> None:
    with server.rest() as rest:
        n = 0
        while not stop.is_set():
            text = f"worker {worker} note {n} " + "x" * random.randint(0, 2000)
            try:
                reply = rest.post("/v1/blocks", json={"kind": "markdown", "title": f"w{worker}-{n}", "content": text})
            except httpx.TransportError:
                return
            if reply.status_code == 201:
                acknowledged[reply.json()["id"]] = text
            n += 1


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    acknowledged: dict[str, str] = {}
    rng = random.Random(7)
    for _ in range(4):
        server = start_server(store)
        stop = threading.Event()
        writers = [threading.Thread(target=write_until_killed, args=(server, acknowledged, stop, w)) for w in range(3)]
        for t in writers:
            t.start()
        time.sleep(rng.uniform(0.3, 1.2))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        for t in writers:
            t.join()

    server = start_server(store)
    try:
        assert len(acknowledged) > 20, "the writers got through some writes"
        stored = {b["id"]: b["content"] for b in server.rest().get("/v1/blocks").json()}
        missing = [block_id for block_id in acknowledged if block_id not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert all(stored[block_id] == text for block_id, text in acknowledged.items())
    finally:
        server.process.kill()
        server.process.wait()
