"""Plinth: an open platform control plane for the AI era."""

__version__ = "0.1.0"
__all__ = ["__version__"]
