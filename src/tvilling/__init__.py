"""Tvilling: an open-source AI digital-twin platform."""

__version__ = "0.1.0"
