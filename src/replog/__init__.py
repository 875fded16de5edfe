"""replog: a replicated log with a pure core and thin asyncio shells."""

__all__ = ["__version__"]

__version__ = "0.1.0"
