"""Typed errors of the anchors package; the service maps each to one response."""


class AnchorsError(Exception):
    """Base class: the message is a sentence meant for the person who sent the request."""

    code = "anchors_error"


class NotFound(AnchorsError):
    code = "not_found"


class PermissionDenied(AnchorsError):
    code = "forbidden"


class VersionConflict(AnchorsError):
    code = "version_conflict"


class BlockShapeError(AnchorsError):
    code = "bad_block"
