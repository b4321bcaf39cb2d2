"""The objects of the generated rooms (`vision.scenes.make_room`) that a view shows whole, which the lifting
tests and the geometry benchmark lift."""

from __future__ import annotations

from vision.camera import Intrinsics
from vision.scenes import RenderedView, Room, clear_view, make_room


def whole_objects(camera: Intrinsics, depth_noise: float) -> list[tuple[Room, int, RenderedView]]:
    """Every box and cylinder at least 20 cm across of rooms 0 and 1 (`vision.scenes.make_room`) that a view by
    `camera` shows whole: the room, the object's index in it and that view (depth noise `depth_noise` at 1 m)."""
    cases = []
    for seed in (0, 1):
        room = make_room(seed)
        for index, obj in enumerate(room.objects):
            if obj.shape in ("box", "cylinder") and min(obj.size) >= 0.2:
                view = clear_view(room, index, camera, depth_noise=depth_noise, seed=seed)
                if view is not None:
                    cases.append((room, index, view))
    return cases
