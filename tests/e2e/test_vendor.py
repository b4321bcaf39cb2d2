"""The web client's libraries are served from npm's install, never from a CDN, and nothing else is."""

import httpx


def test_three_and_iwer_are_served_as_javascript(server) -> None:
    for path in ("three/three.module.js", "three/three.core.js", "iwer/iwer.module.js"):
        reply = httpx.get(f"{server.url}/vendor/{path}", timeout=10)
        assert reply.status_code == 200, path
        assert reply.headers["content-type"].startswith("text/javascript")
    assert "REVISION = '187'" in httpx.get(f"{server.url}/vendor/three/three.core.js", timeout=10).text


def test_only_the_listed_library_files_are_served(server) -> None:
    for path in ("three/package.json", "three/../../pyproject.toml", "iwer/lib/index.js"):
        reply = httpx.get(f"{server.url}/vendor/{path}", timeout=10)
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "not_found"
    index = httpx.get(f"{server.url}/", timeout=10).text
    assert '"three": "./vendor/three/three.module.js"' in index and "https://" not in index
