"""The base of every model the server sends: which fields are left out of the JSON, and how its schema says so."""

from __future__ import annotations

from typing import Any

from pydantic import MISSING, BaseModel, ConfigDict

# Fields that are always sent are required (null where the type allows it); fields that are sometimes
# left out default to MISSING, which pydantic leaves out of the JSON.


def _left_out_fields_are_optional(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """In the JSON schema, a field that defaults to MISSING is not required (every other field is)."""
    left_out = {field.alias or name for name, field in model.model_fields.items() if field.default is MISSING}
    schema["required"] = [name for name in schema.get("required", []) if name not in left_out]


class WireModel(BaseModel):
    """A part of a server message; `to_json` is what goes on the wire."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True,
                              json_schema_extra=_left_out_fields_are_optional)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
