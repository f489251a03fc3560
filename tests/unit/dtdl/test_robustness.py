"""Whatever JSON comes in, the parser answers with a ModelSet or a ModelError — never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tvilling.dtdl import ModelError, parse_models

TERMS = ["@context", "@id", "@type", "contents", "schema", "name", "extends", "fields", "elementSchema", "Interface",
         "Property", "Telemetry", "Object", "Array", "dtmi:dtdl:context;3", "dtmi:ex:a;1", "double", "writable",
         "displayName", "Relationship", "target", "mapKey", "mapValue", "Enum", "enumValues", "valueSchema"]
leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 600), st.sampled_from(TERMS), st.text(max_size=5))
json_value = st.recursive(leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(TERMS), inner, max_size=5)), max_leaves=25)


def _interface(contents: Any) -> dict[str, Any]:
    return {"@context": "dtmi:dtdl:context;3", "@id": "dtmi:ex:a;1", "@type": "Interface", "contents": contents}


@settings(max_examples=150, deadline=None)
@given(st.lists(json_value, max_size=3))
def test_arbitrary_documents(docs: list[Any]) -> None:
    try:
        parse_models(docs)
    except ModelError as exc:
        assert exc.problems


@settings(max_examples=150, deadline=None)
@given(json_value)
def test_arbitrary_contents(contents: Any) -> None:
    try:
        parse_models([_interface(contents)], allow_undefined_extensions=False)
    except ModelError as exc:
        assert exc.problems


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    schema: Any = "double"
    for _ in range(400):
        schema = {"@type": "Array", "elementSchema": schema}
    try:
        parse_models([_interface([{"@type": "Property", "name": "p", "schema": schema}])])
    except ModelError as exc:
        assert any("deep" in p.message for p in exc.problems)
    else:
        raise AssertionError("a 400-level schema must be refused")


def test_long_extends_chain_and_diamonds() -> None:
    docs = []
    for i in range(40):  # a lattice: every level extends both interfaces of the level above
        for side in "ab":
            doc: dict[str, Any] = {"@context": "dtmi:dtdl:context;3", "@id": f"dtmi:ex:{side}{i};1",
                                   "@type": "Interface"}
            if i:
                doc["extends"] = [f"dtmi:ex:a{i - 1};1", f"dtmi:ex:b{i - 1};1"]
            docs.append(doc)
    try:
        parse_models(docs)
    except ModelError as exc:
        assert any("levels deep" in p.message for p in exc.problems)
    else:
        raise AssertionError("39 levels of extends exceed the limit")
