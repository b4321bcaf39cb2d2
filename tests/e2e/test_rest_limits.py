"""REST limits: over one, the answer names the limit and nothing is written; the service goes on."""

from harness.servers import Server

MB = 1024 * 1024


def test_oversized_bodies_are_refused_before_they_are_read(server: Server) -> None:
    rest = server.rest()
    declared = rest.post("/v1/pages/import", content=b"x" * (9 * MB), headers={"content-type": "text/markdown"})
    chunked = rest.post("/v1/pages/import", content=(b"y" * MB for _ in range(9)))
    for reply in (declared, chunked):
        assert reply.status_code == 413, reply.text
        error = reply.json()["error"]
        assert error["code"] == "too_large" and error["limit"] == "max_request_bytes"
        assert "8,388,608" in error["message"]
    assert rest.get("/v1/health").status_code == 200


def test_block_text_over_its_limit_is_refused_with_the_limit_named(server: Server) -> None:
    rest = server.rest()
    before = len(rest.get("/v1/blocks").json())
    big = rest.post("/v1/blocks", json={"kind": "markdown", "title": "big", "content": "z" * (300 * 1024)})
    long_title = rest.post("/v1/blocks", json={"kind": "markdown", "title": "t" * 201, "content": ""})
    assert (big.status_code, long_title.status_code) == (413, 413)
    assert big.json()["error"]["limit"] == "max_block_content_bytes"
    assert "262,144" in big.json()["error"]["message"]
    assert long_title.json()["error"]["limit"] == "max_title_chars" and "200" in long_title.json()["error"]["message"]
    note = rest.post("/v1/blocks", json={"kind": "json", "title": "small", "content": {"a": 1}}).json()
    grown = rest.patch(f"/v1/blocks/{note['id']}", json={"content": {"a": "w" * (300 * 1024)}})
    assert grown.status_code == 413
    assert rest.get(f"/v1/blocks/{note['id']}").json()["content"] == {"a": 1}
    assert len(rest.get("/v1/blocks").json()) == before + 1


def test_blocks_per_object_are_capped_per_user(server: Server) -> None:
    rest = server.rest()
    note = rest.post("/v1/blocks", json={"kind": "markdown", "title": "pin", "content": "x"}).json()
    codes = [rest.post("/v1/objects/marker:aruco/9/anchors", json={"block_id": note["id"]}).status_code for _ in range(65)]
    assert codes == [201] * 64 + [409]
    over = rest.post("/v1/objects/marker:aruco/9/anchors", json={"block_id": note["id"]}).json()["error"]
    assert over["code"] == "too_many_blocks" and over["limit"] == "max_blocks_per_object" and "64" in over["message"]
    assert rest.post("/v1/objects/marker:aruco/10/anchors", json={"block_id": note["id"]}).status_code == 201
    assert len(rest.get("/v1/objects/marker:aruco/9/anchors").json()) == 64
