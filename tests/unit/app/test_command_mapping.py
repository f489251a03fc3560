"""Command mappings as data: shape checks (every problem at once), checks against the model set, scaling, and the
bottling-plant example's commands.yaml against its models and the plant's command table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tvilling.app.command_mapping import (
    CommandMappingError,
    check_against_models,
    load_command_mappings,
    parse_command_mappings,
)
from tvilling.dtdl import parse_models
from tvilling.virtual_plant.commands import COMMANDS
from tvilling.virtual_plant.opcua_plc import DEVICE, METHODS, NAMESPACE, VARIABLES, WRITABLE

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "bottling-plant"
CTX = "dtmi:dtdl:context;3"
PUMP = {"@context": CTX, "@id": "dtmi:t:Pump;1", "@type": "Interface", "contents": [
    {"@type": "Command", "name": "set_speed", "request": {"@type": "CommandRequest", "name": "v", "schema": "double"}},
    {"@type": "Command", "name": "set_mode", "request": {"@type": "CommandRequest", "name": "m", "schema": "string"}},
    {"@type": "Command", "name": "start"}]}


def test_rows_become_targets_per_transport() -> None:
    m = parse_command_mappings({"tenant": "acme", "defaults": {"timeout_s": 5}, "commands": [
        {"twin": "p", "command": "set_speed", "transport": "mqtt", "topic": "plant/p/commands", "scale": 2,
         "offset": 1, "min": 0, "max": 10, "timeout_s": 2},
        {"twin": "p", "command": "start", "transport": "opcua", "object": "ns=2;s=p", "method": "ns=2;s=p.Start"},
        {"twin": "q", "command": "start", "transport": "opcua", "node_id": "nsu=urn:x;s=q.run", "variant": "Boolean"},
        {"twin": "r", "command": "start", "transport": "sparkplug", "address": "g/n/d", "metric": "Start"},
    ]})
    assert m.tenant == "acme" and m.default_timeout_s == 5 and len(m) == 4
    speed = m.get("acme", "p", "set_speed")
    assert speed is not None and speed.target.address == "plant/p/commands" and speed.target.kind == "publish"
    assert speed.target.device_command == "set_speed" and speed.timeout_s == 2
    assert speed.device_value(3.0) == 7.0 and speed.device_value(None) is None
    call = m.get("acme", "p", "start")
    assert call is not None and (call.target.kind, call.target.device_command) == ("call", "ns=2;s=p.Start")
    write = m.get("acme", "q", "start")
    assert write is not None and write.target.kind == "write" and write.target.options == {"variant": "Boolean"}
    dcmd = m.get("acme", "r", "start")
    assert dcmd is not None and (dcmd.target.transport, dcmd.target.device_command) == ("sparkplug", "Start")
    assert m.get("globex", "p", "set_speed") is None  # a mapping belongs to one tenant
    assert m.transports() == {"mqtt", "opcua", "sparkplug"}


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(CommandMappingError) as info:
        parse_command_mappings({"version": 2, "extra": 1, "commands": [
            {"twin": "p", "command": "a", "transport": "mqtt"},  # no topic
            {"twin": "p", "command": "b", "transport": "mqtt", "topic": "t", "bogus": 1},
            {"twin": "p", "command": "c", "transport": "opcua", "node_id": "ns=2;s=x", "object": "o"},
            {"twin": "p", "command": "d", "transport": "mqtt", "topic": "t", "scale": "x", "min": 5, "max": 1},
            {"twin": "p", "command": "e", "transport": "mqtt", "topic": "t", "timeout_s": -1},
            {"twin": "p", "command": "e", "transport": "mqtt", "topic": "t"},
            {"command": "f", "transport": "mqtt", "topic": "t"},
            "not a row",
        ]})
    wheres = [p.where for p in info.value.problems]
    assert "/version" in wheres and "/extra" in wheres and "/commands/0/topic" in wheres
    assert "/commands/1/bogus" in wheres and "/commands/2" in wheres and "/commands/3/scale" in wheres
    assert "/commands/4/timeout_s" in wheres and "/commands/7" in wheres
    messages = " ".join(p.message for p in info.value.problems)
    assert "min is above max" in messages and "mapped twice" in messages and "twin and command" in messages


def test_checked_against_twins_and_models() -> None:
    models = parse_models([PUMP])
    m = parse_command_mappings({"commands": [
        {"twin": "p", "command": "set_speed", "transport": "mqtt", "topic": "t", "scale": 10},
        {"twin": "p", "command": "set_mode", "transport": "mqtt", "topic": "t", "max": 3},
        {"twin": "p", "command": "nope", "transport": "mqtt", "topic": "t"},
        {"twin": "ghost", "command": "start", "transport": "mqtt", "topic": "t"},
        {"twin": "p", "command": "start", "transport": "mqtt", "topic": "t"},
    ]})
    problems = check_against_models(m, {"p": "dtmi:t:Pump;1"}.get, models)
    assert sorted(p.where for p in problems) == ["ghost/start", "p/nope", "p/set_mode"]


def test_guards_are_parsed_and_checked_against_the_model() -> None:
    pump = {**PUMP, "contents": [*PUMP["contents"], {"@type": "Property", "name": "speed", "schema": "double"},
                                 {"@type": "Telemetry", "name": "pressure", "schema": "double"}]}
    m = parse_command_mappings({"defaults": {"guard": {"rate_per_min": 5}}, "commands": [
        {"twin": "p", "command": "set_speed", "transport": "mqtt", "topic": "t",
         "guard": {"property": "speed", "max_step": 5, "interlocks": [{"property": "pressure", "above": 8}]}},
        {"twin": "p", "command": "set_mode", "transport": "mqtt", "topic": "t",
         "guard": {"property": "mode", "max_step": 1, "interlocks": [{"property": "flow", "max_age_s": 9}]}},
        {"twin": "p", "command": "start", "transport": "mqtt", "topic": "t"}]})
    speed = m.get("default", "p", "set_speed")
    assert speed is not None and speed.guard.max_step == 5 and speed.guard.rate_per_min is None  # a row's guard wins
    start = m.get("default", "p", "start")
    assert start is not None and start.guard.rate_per_min == 5  # the default guard
    problems = check_against_models(m, {"p": "dtmi:t:Pump;1"}.get, parse_models([pump]))
    assert [p.message for p in problems] == [
        "guard max_step needs a numeric request schema",
        "guard names 'mode', which model dtmi:t:Pump;1 has as neither property nor telemetry",
        "guard names 'flow', which model dtmi:t:Pump;1 has as neither property nor telemetry"]
    with pytest.raises(CommandMappingError) as info:
        parse_command_mappings({"commands": [{"twin": "p", "command": "start", "transport": "mqtt", "topic": "t",
                                              "guard": {"approvals": 5}}]})
    assert info.value.problems[0].where == "/commands/0/guard/approvals"


def _site_models() -> Any:
    docs = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((EXAMPLE / "models").glob("*.json"))]
    return parse_models(docs)


def test_example_commands_match_models_twins_and_the_plant() -> None:
    mappings = load_command_mappings(EXAMPLE / "commands.yaml")
    twins = {row["id"]: row["model"] for row in yaml.safe_load((EXAMPLE / "twins.yaml").read_text())["twins"]}
    assert check_against_models(mappings, twins.get, _site_models()) == []
    # Every command the plant accepts is mapped, with the plant's own limits: line-1's to the line PLC's setpoint
    # variable or methods (OPC UA), every other one to that device's MQTT topic.
    mapped = {(m.twin_id, m.command): m for m in mappings.entries.values()}
    assert set(mapped) == set(COMMANDS)
    plc_variable = {command: name for name, command in WRITABLE.items()}
    plc_method = {command: ident for ident, command, _ in METHODS.values()}
    for (device, command), spec in COMMANDS.items():
        m = mapped[(device, command)]
        if device == DEVICE:
            ns = f"nsu={NAMESPACE};s="
            if command in plc_variable:
                assert (m.target.kind, m.target.address) == ("write", ns + VARIABLES[plc_variable[command]][0])
            else:
                assert (m.target.kind, m.target.address, m.target.device_command) == (
                    "call", ns + DEVICE, ns + plc_method[command])
        else:
            assert m.target.address == f"plant/{device}/commands" and m.target.device_command == command
        assert (m.min, m.max) == (spec.lo, spec.hi)
