"""Composition root: settings -> stores, bus, services, API. The only module that wires concrete adapters."""
