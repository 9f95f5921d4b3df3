"""The package version, kept in a module of its own so `masterpiece --version` imports nothing heavy."""

__version__ = "0.1.0"
