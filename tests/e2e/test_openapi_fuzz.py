"""Schemathesis against the running server's own OpenAPI description: no 500, every refusal a clear error.

Each operation gets valid and invalid requests generated from its schema (bodies,
path and query parameters), signed in with the server's token. A bounded number
of examples per operation keeps the run to well under a minute.
"""

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.control import SkipTest
from schemathesis import GenerationMode

from harness.servers import Server, start_server, stop_server

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("openapi") / "store.db")
    yield srv
    stop_server(srv)


def token_for(case: schemathesis.Case, server: Server) -> str:
    """The server's token; signing out (`DELETE /v1/tokens/current`) gets a throwaway one instead."""
    if case.method.upper() == "DELETE" and case.path == "/v1/tokens/current":
        reply = httpx.post(f"{server.url}/v1/tokens", json={"device": "fuzz"},
                           headers={"Authorization": f"Bearer {server.token}"})
        return reply.json()["token"]
    return server.token


def real_ids(server: Server) -> dict[str, str]:
    """Ids of blocks that exist (the demo table and one of its rows), for a second pass that gets past 404s."""
    rest = server.rest()
    table = next(b for b in rest.get("/v1/blocks").json() if b["kind"] == "table")
    return {"block_id": table["id"], "table_id": table["id"], "page_id": table["id"], "row_id": table["children"][0]}


def problems_of(
    operation: schemathesis.APIOperation, mode: GenerationMode, server: Server, path_parameters: dict[str, str] | None
) -> list[str] | None:
    """Run the operation's generated cases; what went wrong, one line each (None: no case could be made)."""
    problems: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token_for(case, server)}"}, timeout=10)
        where = f"{case.method} {case.formatted_path} ({mode.value})"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400:
            error = response.json().get("error", {})
            if not (error.get("code") and error.get("message")):
                problems.append(f"{where}: {response.status_code} without a clear error: {response.text[:300]}")

    try:
        run()
    except (Unsatisfiable, SkipTest):
        return None  # only free-text path parameters: no request is invalid
    return problems


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_server_errors_and_every_refusal_is_explained(fuzzed_server: Server, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    schema.config.update(base_url=fuzzed_server.url)
    schema.config.generation.update(modes=[mode])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, "the whole REST API is described"
    ids = real_ids(fuzzed_server)
    runs = []
    for operation in operations:
        runs.append(problems_of(operation, mode, fuzzed_server, None))
        names = {p.name for p in operation.path_parameters}
        if names and names <= ids.keys() and operation.method.upper() != "DELETE":
            runs.append(problems_of(operation, mode, fuzzed_server, {n: ids[n] for n in names}))
    problems = [p for run in runs if run for p in run]
    assert not problems, "\n".join(problems[:20])
    fuzzed = sum(run is not None for run in runs)
    assert fuzzed >= (15 if mode is GenerationMode.NEGATIVE else len(runs)), f"only {fuzzed} of {len(runs)} runs"
