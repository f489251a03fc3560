"""Build the example ThermalZone co-simulation FMUs (FMI 2.0 and 3.0) from C source with gcc.

Standard library only, so it runs wherever FMPy (which ships the FMI headers) is installed:

    python examples/fmus/build.py --out /tmp/fmus [--version 2.0|3.0|all]

or, from Python::

    from build import build_fmu          # with examples/fmus on sys.path
    fmu = build_fmu("3.0", Path("/tmp/fmus"))

The FMUs are byte-for-byte reproducible: fixed zip timestamps and permissions, sorted entries, and the
compiler runs on copies of the sources in a scratch folder so no checkout path ends up in the binary.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["BuildError", "build_fmu", "main"]

MODEL_IDENTIFIER = "ThermalZone"
SOURCE_DIR = Path(__file__).resolve().parent / "thermal_zone"

# version -> (C file, binaries/ folder, FMU file name, C macro holding the GUID/token, XML attribute)
_LAYOUT = {
    "2.0": ("fmi2.c", "linux64", f"{MODEL_IDENTIFIER}-fmi2.fmu", "GUID", "guid"),
    "3.0": ("fmi3.c", "x86_64-linux", f"{MODEL_IDENTIFIER}-fmi3.fmu", "TOKEN", "instantiationToken"),
}

# FMI 3 expects sources/buildDescription.xml next to the sources so importers can rebuild the FMU.
_BUILD_DESCRIPTION = f"""<?xml version="1.0" encoding="UTF-8"?>
<fmiBuildDescription fmiVersion="3.0">
  <BuildConfiguration modelIdentifier="{MODEL_IDENTIFIER}">
    <SourceFileSet language="C99">
      <SourceFile name="fmi3.c"/>
    </SourceFileSet>
    <Library name="m" external="true" description="libm, for exp()"/>
  </BuildConfiguration>
</fmiBuildDescription>
"""

# The earliest time a zip header can hold; any constant works, this one is conventional.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    """A build step failed. ``str(error)`` is one line saying what failed and how to fix it;
    ``details`` holds the full compiler output, if any."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def fmi_headers() -> Path:
    """The folder with fmi2Functions.h / fmi3Functions.h that FMPy ships (``fmpy/c-code``)."""
    spec = importlib.util.find_spec("fmpy")
    if spec is None or spec.origin is None:
        raise BuildError("FMPy not found (it provides the FMI C headers): install it (pip install fmpy)")
    headers = Path(spec.origin).parent / "c-code"
    if not (headers / "fmi2Functions.h").is_file() or not (headers / "fmi3Functions.h").is_file():
        raise BuildError(f"FMI headers missing in {headers}: reinstall FMPy (pip install --force-reinstall fmpy)")
    return headers


def _check_platform() -> None:
    # The binaries/ folder names below are the x86_64 Linux ones of both standards.
    if platform.system() != "Linux" or platform.machine() not in {"x86_64", "AMD64"}:
        raise BuildError(
            f"unsupported platform {platform.system()} {platform.machine()}: this script builds "
            "x86_64 Linux binaries only; run it on x86_64 Linux"
        )


def _check_id_matches(c_source: str, xml: str, macro: str, attribute: str) -> None:
    # An FMU whose binary and modelDescription.xml disagree fails only at instantiation, far from the cause.
    in_c = re.search(rf'#define\s+{macro}\s+"([^"]*)"', c_source)
    in_xml = re.search(rf'\b{attribute}="([^"]*)"', xml)
    if not in_c or not in_xml or in_c.group(1) != in_xml.group(1):
        raise BuildError(
            f"{macro} in the C source ({in_c.group(1) if in_c else 'missing'}) does not match {attribute} in "
            f"modelDescription.xml ({in_xml.group(1) if in_xml else 'missing'}): make them equal"
        )


def _compile(c_file: str, headers: Path, work: Path) -> bytes:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildError("gcc not found: install it (apt-get install gcc libc6-dev)")
    src = work / "src"
    src.mkdir()
    for name in (c_file, "model.h"):
        shutil.copyfile(SOURCE_DIR / name, src / name)
    so = work / f"{MODEL_IDENTIFIER}.so"
    command = [gcc, "-shared", "-fPIC", "-O2", "-std=c99", "-Wall", "-Werror", f"-I{headers}",
               "-o", str(so), c_file, "-lm"]
    try:
        # Relative source name and cwd in the scratch copy: the binary then records no checkout path.
        result = subprocess.run(command, cwd=src, capture_output=True, text=True, check=False)
    except OSError as e:
        raise BuildError(f"could not run gcc ({e}): check that {gcc} is executable") from e
    if result.returncode != 0 or not so.is_file():
        output = (result.stderr or result.stdout).strip()
        first = next((ln for ln in output.splitlines() if "error" in ln), output.splitlines()[0] if output else "")
        raise BuildError(
            f"gcc failed to compile {SOURCE_DIR / c_file} (exit {result.returncode}): {first.strip()} "
            f"-- fix the source, or install the C toolchain (apt-get install gcc libc6-dev)",
            details=output,
        )
    return so.read_bytes()


def _write_zip(path: Path, entries: dict[str, bytes]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the host, so the bytes do not depend on it
            info.external_attr = 0o100644 << 16
            zf.writestr(info, entries[name])
    os.replace(tmp, path)  # never leave a half-written FMU under the final name


def build_fmu(version: str, out_dir: Path) -> Path:
    """Compile the ThermalZone FMU for FMI ``version`` ("2.0" or "3.0") into ``out_dir``; return the .fmu path.

    Raises BuildError (one-line message) when gcc or FMPy's headers are missing or compilation fails.
    """
    if version not in _LAYOUT:
        raise ValueError(f"version must be one of {sorted(_LAYOUT)}, not {version!r}")
    c_file, binaries, fmu_name, macro, attribute = _LAYOUT[version]
    _check_platform()
    headers = fmi_headers()
    xml_path = SOURCE_DIR / ("fmi2" if version == "2.0" else "fmi3") / "modelDescription.xml"
    model_description = xml_path.read_bytes()
    c_source = (SOURCE_DIR / c_file).read_bytes()
    _check_id_matches(c_source.decode(), model_description.decode(), macro, attribute)

    with tempfile.TemporaryDirectory(prefix="thermal-zone-build-") as work:
        binary = _compile(c_file, headers, Path(work))

    entries = {
        "modelDescription.xml": model_description,
        f"binaries/{binaries}/{MODEL_IDENTIFIER}.so": binary,
        f"sources/{c_file}": c_source,
        "sources/model.h": (SOURCE_DIR / "model.h").read_bytes(),
    }
    if version == "3.0":
        entries["sources/buildDescription.xml"] = _BUILD_DESCRIPTION.encode()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fmu = out_dir / fmu_name
    _write_zip(fmu, entries)
    return fmu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the ThermalZone co-simulation FMUs from C source with gcc.")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .fmu files to")
    parser.add_argument("--version", choices=["2.0", "3.0", "all"], default="all",
                        help="FMI version to build (default: all)")
    args = parser.parse_args(argv)
    versions = ["2.0", "3.0"] if args.version == "all" else [args.version]
    try:
        for version in versions:
            sys.stdout.write(f"{build_fmu(version, args.out)}\n")
    except (BuildError, OSError) as e:
        sys.stderr.write(f"build.py: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
