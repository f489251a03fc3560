"""Placeholder package."""
