"""Reading a site's YAML documents (monitoring.yaml, physics.yaml, …): one clear error for a missing or unparsable
file, naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from tvilling.core.errors import Problem, ValidationError

_M = TypeVar("_M", bound=pydantic.BaseModel)


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed document at ``path``; ``what`` names it in the error ("the physics document")."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc}", where=str(path)) from None


def validate_document(model: type[_M], doc: Any, prefix: str, docs: str) -> _M:
    """A site document checked against its pydantic model; every problem named (``<prefix>.<field path>``) in one
    :class:`ValidationError` whose hint points at the format's ``docs`` page."""
    try:
        return model.model_validate(doc)
    except pydantic.ValidationError as exc:
        problems = [Problem(str(err["msg"]).removeprefix("Value error, "),
                            ".".join([prefix, *(str(p) for p in err["loc"])])) for err in exc.errors()]
        raise ValidationError(f"{len(problems)} problem(s) in the {prefix} document: {problems[0].where}: "
                              f"{problems[0].message}", where=problems[0].where, problems=problems,
                              hint=f"format: {docs}") from None
