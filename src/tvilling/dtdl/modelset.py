"""A parsed, resolved set of DTDL interfaces and the twin-instance checks built on it (ADT semantics)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from tvilling.core.errors import NotFoundError, Problem
from tvilling.dtdl.instance import check_value, escape_pointer
from tvilling.dtdl.types import Interface, Schema


class ModelSet:
    """Interfaces by DTMI, with inheritance queries and instance validation. Immutable after construction."""

    def __init__(self, interfaces: Mapping[str, Interface], schemas: Mapping[str, Schema] | None = None) -> None:
        self.interfaces: Mapping[str, Interface] = MappingProxyType(dict(interfaces))
        self._schemas: Mapping[str, Schema] = MappingProxyType(dict(schemas or {}))
        self._ancestors: dict[str, frozenset[str]] = {}
        for dtmi in self.interfaces:
            self._ancestors[dtmi] = frozenset(self._walk_up(dtmi))
        children: dict[str, set[str]] = {d: set() for d in self.interfaces}
        for dtmi, ups in self._ancestors.items():
            for up in ups:
                children.setdefault(up, set()).add(dtmi)
        self._descendants = {d: frozenset(c) for d, c in children.items()}

    def _walk_up(self, dtmi: str) -> Iterator[str]:
        seen: set[str] = set()
        stack = [dtmi]
        while stack:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            yield cur
            iface = self.interfaces.get(cur)
            if iface is not None:
                stack.extend(iface.extends)

    def __contains__(self, dtmi: object) -> bool:
        return dtmi in self.interfaces

    def __len__(self) -> int:
        return len(self.interfaces)

    def __iter__(self) -> Iterator[str]:
        return iter(self.interfaces)

    def get(self, dtmi: str) -> Interface:
        try:
            return self.interfaces[dtmi]
        except KeyError:
            raise NotFoundError(f"model {dtmi} is not defined", where=dtmi,
                                hint="upload the model (and the models it extends) first") from None

    def schema(self, dtmi: str) -> Schema | None:
        """A complex schema of the set by its @id (used to resolve :class:`~tvilling.dtdl.types.SchemaRef`)."""
        return self._schemas.get(dtmi)

    def is_subtype(self, dtmi: str, base: str) -> bool:
        """True when ``dtmi`` is ``base`` or extends it, directly or through any chain of ``extends``."""
        ups = self._ancestors.get(dtmi)
        return dtmi == base if ups is None else base in ups

    def ancestors(self, dtmi: str) -> set[str]:
        return set(self._ancestors.get(dtmi, {dtmi}))

    def descendants(self, dtmi: str) -> set[str]:
        """``dtmi`` itself (if defined) and every interface in the set that extends it."""
        return set(self._descendants.get(dtmi, frozenset()))

    # ---- instance validation -------------------------------------------------------------------------------------

    def validate_twin(self, model_id: str, contents: Mapping[str, Any]) -> list[Problem]:
        """Problems with a twin's property and component values under ``model_id`` (empty list = valid).

        Keys starting with ``$`` (``$metadata``, ``$dtId``, ``$etag``, ``$model``) are ignored at the top level.
        """
        if model_id not in self.interfaces:
            return [Problem(f"model {model_id} is not defined", "/$metadata/$model",
                            hint="upload the model before creating twins of it")]
        return self._check_contents(self.interfaces[model_id], contents, "", top=True)

    def _check_contents(self, iface: Interface, contents: Mapping[str, Any], prefix: str, *,
                        top: bool) -> list[Problem]:
        out: list[Problem] = []
        if not isinstance(contents, Mapping):
            return [Problem("expected an object of property values", prefix or "/")]
        for key, value in contents.items():
            where = f"{prefix}/{escape_pointer(str(key))}"
            if key.startswith("$"):
                if not top and key == "$metadata" and not isinstance(value, Mapping):
                    out.append(Problem("$metadata must be an object", where))
                continue
            prop = iface.properties.get(key)
            if prop is not None:
                out.extend(check_value(prop.schema, value, where, self.schema))
                continue
            comp = iface.components.get(key)
            if comp is not None:
                out.extend(self._check_component(comp.schema, value, where, top=top))
                continue
            if key in iface.telemetry:
                out.append(Problem(f"{key!r} is telemetry of {iface.id}, not a property; it cannot be set on the twin",
                                   where, hint="send it as a telemetry reading instead"))
            elif key in iface.relationships:
                out.append(Problem(f"{key!r} is a relationship of {iface.id}; create it as a relationship", where))
            elif key in iface.commands:
                out.append(Problem(f"{key!r} is a command of {iface.id}, not a property", where))
            else:
                known = sorted({*iface.properties, *iface.components})
                out.append(Problem(f"{key!r} is not a property or component of {iface.id}", where,
                                   hint=f"known: {', '.join(known) if known else '(none)'}"))
        return out

    def _check_component(self, schema_id: str, value: Any, where: str, *, top: bool) -> list[Problem]:
        if not top:
            return [Problem("components cannot be nested", where)]
        if not isinstance(value, Mapping):
            return [Problem('a component value must be an object with "$metadata": {}', where)]
        out: list[Problem] = []
        if not isinstance(value.get("$metadata"), Mapping):
            out.append(Problem('a component value needs "$metadata": {}', where))
        comp_iface = self.interfaces.get(schema_id)
        if comp_iface is None:
            return [*out, Problem(f"component schema {schema_id} is not defined", where)]
        out.extend(self._check_contents(comp_iface, value, where, top=False))
        return out

    def validate_relationship(self, source_model: str, name: str, target_model: str,
                              properties: Mapping[str, Any]) -> list[Problem]:
        """Problems with a relationship instance ``source --name--> target`` and its property values."""
        if source_model not in self.interfaces:
            return [Problem(f"model {source_model} is not defined", "/$sourceId")]
        iface = self.interfaces[source_model]
        rel = iface.relationships.get(name)
        if rel is None:
            known = ", ".join(sorted(iface.relationships)) or "(none)"
            return [Problem(f"{name!r} is not a relationship of {source_model}", "/$relationshipName",
                            hint=f"known: {known}")]
        out: list[Problem] = []
        if rel.target is not None and not self.is_subtype(target_model, rel.target):
            out.append(Problem(f"relationship {name!r} must target {rel.target} (or a model extending it); "
                               f"the target is a {target_model}", "/$targetId"))
        for key, value in properties.items():
            if key.startswith("$"):
                continue
            where = f"/{escape_pointer(str(key))}"
            prop = rel.properties.get(key)
            if prop is None:
                known = ", ".join(sorted(rel.properties)) or "(none)"
                out.append(Problem(f"{key!r} is not a property of relationship {name!r}", where,
                                   hint=f"known: {known}"))
            else:
                out.extend(check_value(prop.schema, value, where, self.schema))
        return out

    def max_multiplicity(self, source_model: str, name: str) -> int | None:
        """The declared maxMultiplicity of a relationship (None = unbounded). Raises NotFoundError if unknown."""
        rel = self.get(source_model).relationships.get(name)
        if rel is None:
            raise NotFoundError(f"{name!r} is not a relationship of {source_model}", where=source_model)
        return rel.max_multiplicity
