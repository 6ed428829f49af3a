"""The package version, in one place (``paraflowo.__version__`` re-exports it)."""

__version__ = "0.1.0.dev0"
