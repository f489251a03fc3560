"""Entry point of the ``tvilling`` command. Sub-commands live in their own modules."""

from __future__ import annotations

import sys

import typer

from tvilling.cli import (
    alarms,
    audit,
    bench,
    commands,
    demo,
    detect,
    event_routes,
    explain,
    fmu,
    impact,
    killswitch,
    maintenance,
    mcp,
    models,
    models_import,
    physics,
    query,
    registry,
    relationships,
    retention,
    rul,
    serve,
    setpoints,
    token,
    twins,
    work_orders,
)

app = typer.Typer(
    name="tvilling",
    help="Tvilling — open-source AI digital twins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models.app, name="models")
app.add_typer(bench.app, name="bench")
app.command("detect")(detect.detect)
app.add_typer(rul.app, name="rul")
app.add_typer(fmu.app, name="fmu")
app.add_typer(physics.app, name="physics")
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("query")(query.query)
app.command("explain")(explain.explain)
app.add_typer(twins.app, name="twins")
app.add_typer(relationships.app, name="relationships")
app.add_typer(token.app, name="token")
app.add_typer(registry.app, name="registry")
app.add_typer(alarms.app, name="alarms")
app.add_typer(retention.app, name="retention")
app.add_typer(commands.app, name="commands")
app.add_typer(killswitch.app, name="killswitch")
app.add_typer(audit.app, name="audit")
app.add_typer(work_orders.app, name="work-orders")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(impact.app, name="impact")
app.add_typer(event_routes.app, name="event-routes")
app.add_typer(setpoints.app, name="setpoints")
app.command("mcp")(mcp.mcp)
models.app.command("import")(models_import.import_models)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
