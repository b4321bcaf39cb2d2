"""REST for taught objects: remember an object from an image and a box, list them, forget one.

The stream's `teach` message does the same for a frame just sent.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from anchors import NotFound
from spatial.api.errors import BadRequest
from spatial.api.rest import Me
from spatial.objects import ObjectMemory
from vision import FrameDecodeError, decode_image
from vision.identity import IdentityError

router = APIRouter(prefix="/v1/taught", tags=["objects"])


def objects(request: Request) -> ObjectMemory:
    return request.app.state.services.objects


Objects = Annotated[ObjectMemory, Depends(objects)]


class TeachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="The frame, JPEG, PNG or WebP bytes in base64.", max_length=4_000_000)
    box: list[float] = Field(min_length=4, max_length=4, description="x0, y0, x1, y1 in pixels of the image.")
    label: str = Field(default="object", min_length=1, max_length=64)
    size_m: float | list[float] | None = Field(
        default=None, description="Width, or (width, height), of the boxed face in metres; gives recognitions a pose."
    )


class TaughtOut(BaseModel):
    instance_id: str
    label: str
    created_at: float | None = None


@router.post("", status_code=201)
def teach(body: TeachIn, user: Me, memory: Objects) -> TaughtOut:
    try:
        image = decode_image(base64.b64decode(body.image, validate=True))
    except (binascii.Error, ValueError) as exc:
        message = str(exc) if isinstance(exc, FrameDecodeError) else "image is not valid base64"
        raise BadRequest(message) from None
    try:
        signature = memory.teach(user, image, body.box, body.label, body.size_m)
    except IdentityError as exc:
        raise BadRequest(str(exc)) from None
    return TaughtOut(instance_id=signature.instance_id, label=signature.label)


@router.get("")
def taught(user: Me, memory: Objects) -> list[TaughtOut]:
    return [TaughtOut(**t) for t in memory.taught(user)]


@router.delete("/{instance_id:path}", status_code=204)
def forget(instance_id: str, user: Me, memory: Objects) -> Response:
    if not memory.forget(user, instance_id):
        raise NotFound(f"you taught no object {instance_id}")
    return Response(status_code=204)
