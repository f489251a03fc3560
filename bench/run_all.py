"""Run Tvilling's benchmarks; each prints one JSON object (figures and commands: docs/benchmarks.md).

    python bench/run_all.py            # the quick set (a few minutes on 2 cores)
    python bench/run_all.py all        # everything, including C-MAPSS, NAB and 100k-twin API/query runs
    python bench/run_all.py rul nab    # by name
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TVILLING = [PY, "-m", "tvilling.cli.main"]

BENCHMARKS: dict[str, tuple[bool, list[str]]] = {  # name -> (in the quick set, command)
    "dtdl": (True, [PY, "bench/bench_dtdl.py"]),
    "anomaly": (True, [PY, "bench/bench_anomaly.py"]),
    "artime": (True, [PY, "bench/bench_artime.py"]),
    "detect": (True, [PY, "bench/bench_detect.py"]),
    "fmu": (True, [PY, "bench/bench_fmu.py"]),
    "virtual_plant": (True, [PY, "bench/bench_virtual_plant.py"]),
    "ingest": (True, [*TVILLING, "bench", "ingest", "--messages", "20000", "--json"]),
    "query": (False, [PY, "bench/bench_query.py"]),
    "commands": (False, [PY, "bench/bench_commands.py"]),
    "api": (False, [PY, "bench/bench_api.py", "--twins", "100000", "--seconds", "10", "--clients", "2"]),
    "dashboard": (False, [PY, "bench/bench_dashboard.py", "--twins", "200", "--seconds", "40"]),
    "rul": (False, [*TVILLING, "bench", "rul", "--json"]),
    "nab": (False, [*TVILLING, "bench", "nab", "--json"]),
}


def main(argv: list[str]) -> int:
    if argv == ["all"]:
        names = list(BENCHMARKS)
    elif argv:
        unknown = [n for n in argv if n not in BENCHMARKS]
        if unknown:
            sys.stderr.write(f"error: unknown benchmark {unknown[0]}; choose from {', '.join(BENCHMARKS)}\n")
            return 2
        names = argv
    else:
        names = [n for n, (quick, _) in BENCHMARKS.items() if quick]
    failed = 0
    for name in names:
        cmd = BENCHMARKS[name][1]
        sys.stderr.write(f"== {name}: {' '.join(cmd)}\n")
        failed += subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
