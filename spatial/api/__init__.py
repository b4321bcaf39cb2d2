"""The FastAPI app: web client at `/`, REST under `/v1`, the stream at `/v1/stream`."""

from spatial.api.app import create_app

__all__ = ["create_app"]
