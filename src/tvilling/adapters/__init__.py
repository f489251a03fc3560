"""One module (or package) per external technology. Adapters import ``core`` and ``ports`` only, never each other."""
