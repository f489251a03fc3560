"""``tvilling bench …``: benchmarks with a JSON result (contract in shared/docs/contracts.md)."""

from __future__ import annotations

import typer

from tvilling.cli import bench_ingest, bench_nab, bench_rul

app = typer.Typer(help="Benchmarks on public datasets and on the running platform.", no_args_is_help=True)
app.command("nab")(bench_nab.nab)
app.command("rul")(bench_rul.rul)
app.command("ingest")(bench_ingest.ingest)
