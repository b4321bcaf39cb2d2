"""The AsyncAPI document: valid AsyncAPI 3.0, every schema a valid JSON schema, and docs/asyncapi.yaml up to date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from spatial.asyncapi import DOCUMENT, asyncapi_document, asyncapi_yaml, main
from spatial.protocol import CLIENT_MESSAGES, SERVER_MESSAGES

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI_3_SCHEMA = ROOT / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
"""AsyncAPI's own JSON schema of 3.0.0 documents, from npm's @asyncapi/specs (package.json)."""


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = Draft7Validator(json.loads(ASYNCAPI_3_SCHEMA.read_text()))
    document = yaml.safe_load(asyncapi_yaml())
    assert document["asyncapi"] == "3.0.0"
    assert [error.message for error in validator.iter_errors(document)] == []
    broken = {**document, "operations": {"shout": {"action": "shout", "channel": {"$ref": "#/channels/stream"}}}}
    assert list(validator.iter_errors(broken)), "the schema does tell a broken document"


def test_every_schema_is_a_json_schema_and_every_reference_resolves() -> None:
    document = asyncapi_document()
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft7Validator.check_schema(schema)
    assert {model.__name__ for model in (*SERVER_MESSAGES, *CLIENT_MESSAGES)} <= set(schemas)
    for ref in references(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_every_message_has_an_operation_in_the_right_direction() -> None:
    document = asyncapi_document()
    actions = {op["messages"][0]["$ref"].rsplit("/", 1)[1]: op["action"] for op in document["operations"].values()}
    assert actions == {"frame": "receive", "hello": "receive", "statsRequest": "receive", "teach": "receive",
                       "place": "receive", "page": "receive", "welcome": "send", "objects": "send", "overlays": "send",
                       "relocalised": "send", "taught": "send", "placed": "send", "error": "send", "stats": "send"}


def test_docs_asyncapi_yaml_is_up_to_date() -> None:
    assert DOCUMENT == ROOT / "docs" / "asyncapi.yaml"
    assert DOCUMENT.read_text() == asyncapi_yaml(), "run python -m spatial.asyncapi"
    assert main(["--check"]) == 0


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []
