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


class LimitExceeded(AnchorsError):
    """Over one of the service's limits; `limit` names the setting, and the message gives its value."""

    code = "limit_exceeded"

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class TooLarge(LimitExceeded):
    code = "too_large"


class TooManyBlocks(LimitExceeded):
    code = "too_many_blocks"
