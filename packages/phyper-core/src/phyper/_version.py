"""phyper's version, in a leaf module: the plan cache's key reads it without importing the package root."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
