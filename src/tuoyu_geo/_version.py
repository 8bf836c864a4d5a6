"""The package version (import it from here, never from the package ``__init__``)."""

__version__ = "0.1.0"
