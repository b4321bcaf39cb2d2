"""Every error a REST call can end in, mapped to a response in one place.

The body is always `{"error": {"code": ..., "message": ...}}`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from anchors import errors as anchors_errors


class Unauthorized(Exception):
    code = "unauthorized"


class BadRequest(Exception):
    """A request whose body parsed but cannot be acted on; the message says why."""

    code = "bad_request"


STATUS = {
    anchors_errors.NotFound: 404,
    anchors_errors.PermissionDenied: 403,
    anchors_errors.VersionConflict: 409,
    anchors_errors.BlockShapeError: 422,
    anchors_errors.TooLarge: 413,
    anchors_errors.TooManyBlocks: 409,
    Unauthorized: 401,
    BadRequest: 422,
}


def error_body(code: str, message: str, limit: str | None = None) -> dict[str, dict[str, str]]:
    """The body of every error; an error over a limit names the limit's setting too."""
    body = {"code": code, "message": message}
    if limit is not None:
        body["limit"] = limit
    return {"error": body}


def _status(exc: Exception) -> int:
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


async def _typed(request: Request, exc: Exception) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    limit = exc.limit if isinstance(exc, anchors_errors.LimitExceeded) else None
    return JSONResponse(error_body(exc.code, str(exc), limit), status_code=_status(exc), headers=headers)  # type: ignore[attr-defined]


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
        problems.append(f"{where}: {err['msg']}")
    return JSONResponse(error_body("invalid_request", "; ".join(problems)), status_code=422)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(anchors_errors.AnchorsError, _typed)
    app.add_exception_handler(Unauthorized, _typed)
    app.add_exception_handler(BadRequest, _typed)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
