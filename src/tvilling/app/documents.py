"""Reading a site's YAML documents (monitoring.yaml, physics.yaml, …): one clear error for a missing or unparsable
file, naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tvilling.core.errors import ValidationError


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed document at ``path``; ``what`` names it in the error ("the physics document")."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc}", where=str(path)) from None
