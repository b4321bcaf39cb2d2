"""The REST API against a real server: blocks, sharing, anchors."""

def test_block_lifecycle_with_sharing_and_anchors(server) -> None:
    owner, reader = server.rest(), server.rest(server.new_token("reader"))
    assert owner.get("/v1/me").json()["name"] == "local"

    created = owner.post("/v1/blocks", json={"kind": "json", "title": "Sensor", "content": {"temp": 21.5}})
    assert created.status_code == 201
    block = created.json()
    assert block["version"] == 1 and block["content"] == {"temp": 21.5}

    assert reader.get(f"/v1/blocks/{block['id']}").status_code == 404
    assert owner.post(f"/v1/blocks/{block['id']}/shares", json={"user": "reader", "role": "read"}).status_code == 204
    assert reader.get(f"/v1/blocks/{block['id']}").json()["title"] == "Sensor"
    denied = reader.patch(f"/v1/blocks/{block['id']}", json={"content": {"temp": 0}})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"

    edited = owner.patch(f"/v1/blocks/{block['id']}", json={"content": {"temp": 22.0}, "version": 1})
    assert edited.status_code == 200 and edited.json()["version"] == 2
    stale = owner.patch(f"/v1/blocks/{block['id']}", json={"content": {"temp": 99}, "version": 1})
    assert stale.status_code == 409 and "version 2" in stale.json()["error"]["message"]

    anchor = owner.post("/v1/objects/marker:apriltag/3/anchors", json={"block_id": block["id"]})
    assert anchor.status_code == 201 and anchor.json()["object_id"] == "marker:apriltag/3"
    attached = reader.get("/v1/objects/marker:apriltag/3/anchors").json()
    assert [a["block"]["id"] for a in attached] == [block["id"]]
    assert attached[0]["block"]["content"] == {"temp": 22.0}

    assert owner.delete(f"/v1/anchors/{anchor.json()['id']}").status_code == 204
    assert owner.get("/v1/objects/marker:apriltag/3/anchors").json() == []
    assert reader.delete(f"/v1/blocks/{block['id']}").status_code == 403
    assert owner.delete(f"/v1/blocks/{block['id']}").status_code == 204
    assert owner.get(f"/v1/blocks/{block['id']}").status_code == 404


def test_openapi_and_web_client_are_served(server) -> None:
    client = server.rest()
    spec = client.get("/openapi.json").json()
    assert "/v1/blocks" in spec["paths"] and "/v1/objects/{object_id}/anchors" in spec["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<script" in page.text
