"""POST /api/v1/detect against the real platform app: the CLI's answers over HTTP, and problem+json for bad CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import ApiRig, api_rig, database_url
from tests.support.samples import pump_rig
from tvilling.core.roles import Role

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Detection stores nothing, so one backend is enough here; the access matrix runs it on both.
    with api_rig(database_url("sqlite", tmp_path_factory.mktemp("detect"), None)) as r:
        yield r


def _pump_csv() -> tuple[bytes, list[int]]:
    """The README's pump-rig sample (examples/detect/make_sample.py) and its labels."""
    df = pump_rig()
    return df.to_csv(sep=";", index=False).encode(), df["anomaly"].tolist()


def test_detect_answers_like_the_cli(rig: ApiRig) -> None:
    body, labels = _pump_csv()
    r = rig.call("POST", "/api/v1/detect?sep=;&timeCol=datetime&exclude=anomaly&trainRows=400&rows=true",
                 role=Role.VIEWER, content=body, headers=CSV)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rows"] == 1400 and out["train_rows"] == 400 and out["time_col"] == "datetime"
    assert "anomaly" not in out["columns"] and "flow_m3h" in out["columns"]
    flags = [row["is_anomaly"] for row in out["scores"]]
    assert len(flags) == 1400 and out["anomalies"] == sum(flags)
    assert sum(flags[700:1000]) > 0.8 * 300 and flags[1150]  # the strainer fault and the spike
    normal_after = [f for f, y in zip(flags[400:], labels[400:], strict=True) if not y]
    assert sum(normal_after) / len(normal_after) < 0.05
    first = out["episodes"][0]
    assert first["since"].startswith("2026-03-09") and first["signals"] and first["reasons"]
    assert out["scores"][0]["time"] == "2026-03-09 10:14:33"


def test_a_label_column_is_scored_against(rig: ApiRig) -> None:
    body, _ = _pump_csv()
    r = rig.call("POST", "/api/v1/detect?sep=;&labelCol=anomaly&trainRows=400", role=Role.VIEWER, content=body,
                 headers=CSV)
    assert r.status_code == 200, r.text
    ev = r.json()["evaluation"]
    assert "anomaly" not in r.json()["columns"] and ev["f1"] > 0.9 and ev["rows"] == 1000
    bad = rig.call("POST", "/api/v1/detect?sep=;&labelCol=nope", role=Role.VIEWER, content=body, headers=CSV)
    assert bad.status_code == 422 and "label column 'nope' not found" in bad.json()["detail"]


def test_a_decimal_comma_table(rig: ApiRig) -> None:
    european = pump_rig().to_csv(sep=";", index=False, decimal=",").encode()
    r = rig.call("POST", "/api/v1/detect?sep=;&decimal=,&labelCol=anomaly&trainRows=400", role=Role.VIEWER,
                 content=european, headers=CSV)
    assert r.status_code == 200, r.text
    assert r.json()["evaluation"]["f1"] > 0.9
    wrong = rig.call("POST", "/api/v1/detect?sep=;&labelCol=anomaly", role=Role.VIEWER, content=european,
                     headers=CSV)
    assert wrong.status_code == 422 and "decimal comma" in wrong.json()["hint"]


def test_detect_without_rows_gives_the_summary_only(rig: ApiRig) -> None:
    body, _ = _pump_csv()
    r = rig.call("POST", "/api/v1/detect?sep=;&exclude=anomaly", role=Role.VIEWER, content=body, headers=CSV)
    assert r.status_code == 200, r.text
    assert "scores" not in r.json() and r.json()["train_rows"] == 280  # 20 % of the rows by default


@pytest.mark.parametrize(("query", "body", "expect"), [
    ("", b"", "the request body is empty"),
    ("", b"a,b\n", "no data rows"),
    ("", b"name,site\npump,x\nfan,y\n", "no numeric columns"),
    ("?exclude=zz", b"a,b\n1,2\n", "excluded column(s) not found: zz"),
    ("?timeCol=when", b"a,b\n1,2\n", "time column 'when' not found"),
    ("", b"a,b\n1,2\n3,4,5,6,7\n", "cannot read"),
    ("", b"\xff\xfe\x00a,b\n", "cannot read"),
])
def test_bad_csv_is_a_clear_problem(rig: ApiRig, query: str, body: bytes, expect: str) -> None:
    r = rig.call("POST", f"/api/v1/detect{query}", role=Role.VIEWER, content=body, headers=CSV)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert expect in problem["detail"], problem


@pytest.mark.parametrize("query", ["?ewma=1.5", "?trainRows=-1", "?sep=ab", "?unknown=1", "?decimal=x",
                                   "?decimal=,"])
def test_bad_options_are_refused_before_any_work(rig: ApiRig, query: str) -> None:
    r = rig.call("POST", f"/api/v1/detect{query}", role=Role.VIEWER, content=b"a,b\n1,2\n", headers=CSV)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_infinite_readings_count_as_missing(rig: ApiRig) -> None:
    rows = "".join(f"{i},{(i * 7) % 11},{'inf' if i == 300 else (i * 5) % 13}\n" for i in range(400))
    r = rig.call("POST", "/api/v1/detect?trainRows=200", role=Role.VIEWER, content=("t,a,b\n" + rows).encode(),
                 headers=CSV)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 400


def test_a_body_over_the_limit_is_413(tmp_path: Path) -> None:
    with api_rig(database_url("sqlite", tmp_path, None), max_body_bytes=2048) as small:
        body = b"a,b\n" + b"1.0,2.0\n" * 1000
        r = small.call("POST", "/api/v1/detect", role=Role.VIEWER, content=body, headers=CSV)
    assert r.status_code == 413 and "TVILLING_MAX_BODY_BYTES" in r.json()["hint"]
