"""Wiring of the command service: mappings from settings, one transport per mapped technology, the expiry sweep.

``build_command_service(services, settings)`` is called by bootstrap (sync, so the API can answer at once);
``run_commands(platform)`` is a ``bootstrap.BACKGROUND`` factory that starts the transports the mappings need and
runs the sweep until cancelled. Another transport (Sparkplug DCMD, ...) registers a factory in
``TRANSPORT_FACTORIES`` under its ``transport`` name: ``factory(settings) -> CommandTransport | None`` (None: not
configured on this server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tvilling.app.command_mapping import CommandMappingSet, load_command_mappings
from tvilling.app.commands import CommandService
from tvilling.app.security_events import opcua_refusals
from tvilling.app.services import Services
from tvilling.ports.commands import CommandTransport

log = logging.getLogger(__name__)

TransportFactory = Callable[[Any], CommandTransport | None]


def _mqtt(settings: Any) -> CommandTransport | None:
    url = getattr(settings, "mqtt_url", None)
    if not url:
        return None
    from tvilling.adapters.mqtt import parse_broker_url
    from tvilling.adapters.mqtt_commands import MqttCommandSettings, MqttCommandTransport

    host, port = parse_broker_url(url)
    return MqttCommandTransport(MqttCommandSettings(
        host=host, port=port, client_id=getattr(settings, "commands_client_id", "tvilling-commands"),
        protocol=getattr(settings, "mqtt_protocol", 5)))


def _opcua(settings: Any) -> CommandTransport | None:
    url = getattr(settings, "opcua_url", None)
    if not url:
        return None
    from tvilling.adapters.opcua import OpcuaSettings
    from tvilling.adapters.opcua_commands import OpcuaCommandTransport

    return OpcuaCommandTransport(OpcuaSettings(
        url=url, security=settings.opcua_security, certificate=settings.opcua_certificate,
        private_key=settings.opcua_private_key, server_certificate=settings.opcua_server_certificate,
        application_uri="urn:tvilling:ingest"))


TRANSPORT_FACTORIES: dict[str, TransportFactory] = {"mqtt": _mqtt, "opcua": _opcua}


def _count_refusals(platform: Any, transport: CommandTransport) -> None:
    """An OPC UA session refused for its security is a security event (S-12, S-15), as for ingestion."""
    from tvilling.adapters.opcua_commands import OpcuaCommandTransport

    if isinstance(transport, OpcuaCommandTransport):
        transport.on_refused = opcua_refusals(getattr(platform.app.state, "security", None), "commands",
                                              transport.settings.url)


def build_command_service(services: Services, settings: Any) -> CommandService:
    path: Path | None = getattr(settings, "commands_file", None)
    mappings = load_command_mappings(Path(path)) if path else CommandMappingSet()
    return CommandService(services.store, services.bus, services.clock, services.models, mappings)


async def run_commands(platform: Any) -> None:
    """Background factory: start the transports the mappings use, then sweep expiries until cancelled."""
    service: CommandService | None = getattr(platform.app.state, "commands", None)
    if service is None:
        return
    for name in sorted(service.mappings.transports()):
        factory = TRANSPORT_FACTORIES.get(name)
        transport = factory(platform.settings) if factory is not None else None
        if transport is None:
            log.warning("commands mapped to transport %r cannot be sent: it is not configured on this server", name)
            continue
        _count_refusals(platform, transport)
        await service.attach(transport)
    # Twins may be created after start-up (a site loaded later), so problems are reported, not fatal, here;
    # `tvilling demo` checks after loading its site and refuses to run with any.
    for problem in await asyncio.to_thread(service.check_mappings):
        log.warning("command mapping %s: %s", problem.where, problem.message)
    await service.run()
