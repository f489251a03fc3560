"""Real FMUs for tests: the thermal zone of ``examples/fmus`` compiled with gcc (FMI 2.0 and 3.0 co-simulation).

Built once per test session into a temporary folder. Where gcc is missing the tests fail with the reason (CI
installs it); they never skip.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "examples" / "fmus" / "build.py"


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tvilling_example_fmu_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_thermal_zone(out_dir: Path) -> dict[str, Path]:
    """{"2.0": path, "3.0": path} of freshly built ThermalZone FMUs."""
    build = builder().build_fmu
    return {version: Path(build(version, out_dir)) for version in ("2.0", "3.0")}


@functools.cache
def _built() -> dict[str, Path]:
    return build_thermal_zone(Path(tempfile.mkdtemp(prefix="tvilling-test-fmus-")))


def thermal_zone_bytes(version: str = "2.0", tag: str = "") -> bytes:
    """The built FMU's bytes; a ``tag`` becomes the zip's comment, so each tag is different content (the library
    refuses the same file twice in one tenant) and the same FMU."""
    data = _built()[version].read_bytes()
    if not tag:
        return data
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.comment = tag.encode()
    return buf.getvalue()


def patched_thermal_zone(work: Path, line: str) -> bytes:
    """The FMI 2.0 thermal zone with ``line`` of C added at the start of its doStep (``h`` is the step size), e.g.
    ``if (h > 1e8) abort();``: real native failures, built from source into ``work``."""
    import shutil

    build = builder()
    source = work / "src"
    shutil.copytree(build.SOURCE_DIR, source)
    c_file = source / "fmi2.c"
    text = c_file.read_text()
    anchor = 'ENTER("fmi2DoStep", STEP_COMPLETE);'
    assert anchor in text
    c_file.write_text(text.replace(anchor, anchor + "\n    " + line, 1))
    build.SOURCE_DIR = source
    return Path(build.build_fmu("2.0", work / "out")).read_bytes()
