"""The runnable engine example in docs/alarms.md prints what the document says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "alarms.md"


def test_engine_example_output_matches_the_document() -> None:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = block.group(1)
    expected = [re.sub(r"\s+<-.*$", "", line[2:]).rstrip() for line in code.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {})
    assert out.getvalue().splitlines() == expected
