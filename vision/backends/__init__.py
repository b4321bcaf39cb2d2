"""Built-in detector backends; importing this package registers them."""

from vision.backends import markers

__all__ = ["markers"]
