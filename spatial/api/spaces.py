"""REST for spaces: a shared frame with its map, and blocks placed at poses in it (docs/api.md, *Spaces*).

Changes to a space's anchors also go to the service's space registry, so
sessions in the space see them with their next frame.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Request, Response

from spatial.api import schemas as s
from spatial.api.errors import BadRequest
from anchors import SpaceService
from spatial.api.rest import Me
from spatial.spaces import SpaceRegistry

router = APIRouter(prefix="/v1", tags=["spaces"])


def space_service(request: Request) -> SpaceService:
    return request.app.state.services.spaces


def space_registry(request: Request) -> SpaceRegistry:
    return request.app.state.services.space_registry


Spaces = Annotated[SpaceService, Depends(space_service)]
Registry = Annotated[SpaceRegistry, Depends(space_registry)]


def decode_points(text: str) -> np.ndarray:
    """(N, 3) float32 points from base64 of little-endian float32 triples."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("points: not valid base64") from None
    if len(raw) % 12:
        raise BadRequest(f"points: {len(raw)} bytes is not a whole number of points (12 bytes each: x, y, z float32)")
    return np.frombuffer(raw, dtype="<f4").reshape(-1, 3)


@router.post("/spaces", status_code=201)
def create_space(body: s.SpaceIn, user: Me, spaces: Spaces) -> s.SpaceOut:
    """A new space; you are its owner. Its frame is whatever frame you upload its map in."""
    return s.SpaceOut.of(spaces.create_space(user, body.name))


@router.get("/spaces")
def list_spaces(user: Me, spaces: Spaces) -> list[s.SpaceOut]:
    """The spaces you own or that are shared with you."""
    return [s.SpaceOut.of(space) for space in spaces.list_spaces(user)]


@router.get("/spaces/{space_id}")
def get_space(space_id: str, user: Me, spaces: Spaces) -> s.SpaceOut:
    return s.SpaceOut.of(spaces.get_space(user, space_id))


@router.patch("/spaces/{space_id}")
def rename_space(space_id: str, body: s.SpaceIn, user: Me, spaces: Spaces) -> s.SpaceOut:
    return s.SpaceOut.of(spaces.rename_space(user, space_id, body.name))


@router.put("/spaces/{space_id}/map")
def put_map(space_id: str, body: s.SpaceMapIn, user: Me, spaces: Spaces) -> s.SpaceOut:
    """Replace the map's points (and its landmarks, when given); sessions relocalise against the new map."""
    space = spaces.set_space_map(user, space_id, decode_points(body.points), body.voxel_size, body.landmarks)
    return s.SpaceOut.of(space)


@router.get("/spaces/{space_id}/map")
def get_map(space_id: str, user: Me, spaces: Spaces) -> s.SpaceMapOut:
    points = spaces.space_points(user, space_id)
    space = spaces.get_space(user, space_id)
    return s.SpaceMapOut(
        points=base64.b64encode(points.astype("<f4").tobytes()).decode("ascii"),
        voxel_size=space.voxel_size,
        landmarks={k: list(v) for k, v in space.landmarks.items()},
    )


@router.delete("/spaces/{space_id}", status_code=204)
def delete_space(space_id: str, user: Me, spaces: Spaces) -> Response:
    """Delete a space and the anchors placed in it (owner only); the blocks stay. Every replica drops what
    it kept of the space when the store tells it (`spatial.changes`)."""
    spaces.delete_space(user, space_id)
    return Response(status_code=204)


@router.post("/spaces/{space_id}/shares", status_code=204)
def share_space(space_id: str, body: s.ShareIn, user: Me, spaces: Spaces) -> Response:
    """Let a user relocalise into the space and see what is placed in it (`read`), or place blocks too (`write`)."""
    spaces.share_space(user, space_id, body.user, body.role)
    return Response(status_code=204)


@router.delete("/spaces/{space_id}/shares/{user_name}", status_code=204)
def unshare_space(space_id: str, user_name: str, user: Me, spaces: Spaces) -> Response:
    spaces.unshare_space(user, space_id, user_name)
    return Response(status_code=204)


@router.post("/spaces/{space_id}/anchors", status_code=201)
def place(space_id: str, body: s.SpaceAnchorIn, user: Me, spaces: Spaces, registry: Registry) -> s.AnchorOut:
    """Place a block at a pose in the space's frame (write access to the block and the space)."""
    anchor, revision = spaces.attach_in_space(user, body.block_id, space_id, body.pose)
    registry.placed(anchor, revision)
    return s.AnchorOut.of(anchor)


@router.get("/spaces/{space_id}/anchors")
def placed(space_id: str, user: Me, spaces: Spaces) -> list[s.AttachedOut]:
    """The blocks placed in the space that you may read, with their anchors."""
    return [s.AttachedOut(anchor=s.AnchorOut.of(a), block=s.BlockOut.of(b)) for a, b in spaces.space_anchors(user, space_id)]


@router.patch("/anchors/{anchor_id}")
def move(anchor_id: str, body: s.AnchorMoveIn, user: Me, spaces: Spaces, registry: Registry) -> s.AnchorOut:
    """Move an anchor placed in a space; sessions in the space get the new pose with their next frame."""
    anchor, revision = spaces.move_anchor(user, anchor_id, body.space_pose)
    registry.placed(anchor, revision)
    return s.AnchorOut.of(anchor)
