"""Entry point of the ``tvilling`` command. Sub-commands live in their own modules."""

from __future__ import annotations

import sys

import typer

from tvilling.cli import bench, detect, models

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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
