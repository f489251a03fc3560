"""The plain path (rules.PlainSink: readings that pass every rule go straight into the rows) must give exactly
what the general path gives: the same rows, latest values, counts, quarantine and engine state, on any stream."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tvilling.app.ingest_rows import Envelope, Rows, _add_all, build_rows
from tvilling.quality.decode import DecodedMessage, decode_payload
from tvilling.quality.mapping import MappingSet, PointSpec, TopicSpec
from tvilling.quality.rules import QualityEngine

NOW_US = 1_700_000_000_000_000
TOPIC = "plant/dev/telemetry"

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.sampled_from([0.0, 1.0, 1.0, 2.5]),
    st.integers(-5, 5), st.integers(min_value=2**1023, max_value=2**1100), st.booleans(), st.none(),
    st.sampled_from(["12.5", "NaN", "abc"]))
units = st.sampled_from([None, "degreeCelsius", "degreeFahrenheit", "kelvin", "metre", 7])
# Source times relative to now, in seconds: mostly a rising clock, with repeats, steps back, far past and future.
offsets = st.one_of(st.integers(-300, 20), st.sampled_from([-8 * 86_400, 3_600]))


@st.composite
def point_specs(draw: Any, i: int) -> PointSpec:
    lo = draw(st.floats(-20, 5))
    return PointSpec(
        twin_id="tw", name=f"p{i}", pointer=f"/points/p{i}", unit_pointer=f"/units/p{i}",
        type=draw(st.sampled_from(["double", "double", "integer", "string"])),
        unit=draw(st.sampled_from([None, "degreeCelsius"])), unit_required=draw(st.booleans()),
        scale=draw(st.sampled_from([1.0, 2.0, 1e300])), offset=draw(st.sampled_from([0.0, -1.0])),
        deadband=draw(st.sampled_from([0.0, 0.0, 0.5])),
        instrument_range=draw(st.sampled_from([None, (-50.0, 50.0)])),
        engineering_range=draw(st.sampled_from([None, (lo, lo + 15.0)])),
        max_rate=draw(st.sampled_from([None, 0.01, 1.0])), may_be_constant=draw(st.booleans()),
        stuck_samples=draw(st.integers(1, 4)), stuck_seconds=draw(st.sampled_from([0.0, 5.0])))


@st.composite
def streams(draw: Any) -> tuple[MappingSet, list[Envelope]]:
    specs = tuple(draw(point_specs(i)) for i in range(3))
    mappings = MappingSet(tenant="t", topics={TOPIC: TopicSpec(address=TOPIC, points=specs, device=None)})
    envelopes = []
    clock = 0
    for _ in range(draw(st.integers(1, 25))):
        clock += draw(st.integers(0, 3))
        points = {f"p{i}": draw(values) for i in range(3) if draw(st.integers(0, 5))}
        doc: dict[str, Any] = {"points": points, "units": {f"p{i}": draw(units) for i in range(3)}}
        if draw(st.integers(0, 6)):
            doc["source_ts"] = (NOW_US // 1_000_000 + clock + draw(offsets)) * 1000  # milliseconds
        envelopes.append(Envelope("mqtt", TOPIC, NOW_US + clock * 1_000_000, _encode(doc)))
    return mappings, envelopes


def _encode(doc: dict[str, Any]) -> bytes:
    import json
    return json.dumps(doc, allow_nan=True).encode()


def _general(mappings: MappingSet, envelopes: list[Envelope], engine: QualityEngine) -> Rows:
    """build_rows as it was before the plain path: every reading becomes an Assessment."""
    rows = Rows()
    topic = mappings.for_address(TOPIC)
    assert topic is not None
    for env in envelopes:
        msg = decode_payload(env.payload, time_pointer=topic.time_pointer, seq_pointer=topic.seq_pointer,
                             device_pointer=topic.device_pointer)
        assert isinstance(msg, DecodedMessage)
        _add_all(rows, mappings.tenant, env, engine.assess_message(topic, msg, env.received_at_us))
    rows.publish_metrics()
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_plain_path_equals_general_path(stream: tuple[MappingSet, list[Envelope]]) -> None:
    mappings, envelopes = stream
    general, plain = QualityEngine(), QualityEngine()
    want = _general(mappings, envelopes, general)
    got = build_rows(envelopes, mappings, plain)
    assert got.series.keys() == want.series.keys()
    for key in want.series:
        assert _same(got.series[key], want.series[key]), key
    assert got.latest_by_point.keys() == want.latest_by_point.keys()
    for key in want.latest_by_point:
        assert _same(got.latest_by_point[key], want.latest_by_point[key]), key
    assert got.counts == want.counts
    assert got.points == want.points
    assert got.late == want.late
    assert [(q.reason, q.detail, q.name) for q in got.quarantine] == [(q.reason, q.detail, q.name)
                                                                       for q in want.quarantine]
    assert general._states == plain._states or all(  # NaN never equals itself: compare field by field
        _same(tuple(getattr(general._states[k], f) for f in general._states[k].__slots__),
              tuple(getattr(plain._states[k], f) for f in plain._states[k].__slots__))
        for k in general._states)


def test_plain_path_takes_the_common_reading() -> None:
    """Guards the speed-up itself: a plain Good reading builds no Assessment (the test above cannot see that)."""
    spec = PointSpec(twin_id="tw", name="p0", pointer="/points/p0")
    mappings = MappingSet(tenant="t", topics={TOPIC: TopicSpec(address=TOPIC, points=(spec,))})
    rows = Rows()
    topic = mappings.for_address(TOPIC)
    assert topic is not None
    msg = decode_payload(b'{"points": {"p0": 1.5}}')
    assert isinstance(msg, DecodedMessage)
    assert QualityEngine().assess_message(topic, msg, NOW_US, rows.plain) == []
    assert rows.series == {("", "tw", "p0"): [(NOW_US, 1.5, None, "good", "", None)]}
    assert rows.plain.good == 1


def test_numbers_beyond_a_float_are_quarantined_not_raised() -> None:
    spec = PointSpec(twin_id="tw", name="p0", pointer="/points/p0", scale=1e300)
    mappings = MappingSet(tenant="t", topics={TOPIC: TopicSpec(address=TOPIC, points=(spec,))})
    payloads = [b'{"points": {"p0": ' + b"9" * 400 + b"}}", b'{"points": {"p0": 1e10}}',
                b'{"points": {"p0": ' + b"9" * 5000 + b"}}"]
    rows = build_rows([Envelope("mqtt", TOPIC, NOW_US, p) for p in payloads], mappings, QualityEngine())
    assert rows.series == {}
    assert [q.reason for q in rows.quarantine] == ["non_finite", "non_finite", "decode_error"]
    assert "beyond a float" in rows.quarantine[0].detail and "overflows when scaled" in rows.quarantine[1].detail


def test_a_rule_that_raises_quarantines_its_message_and_the_rest_go_on() -> None:
    spec = PointSpec(twin_id="tw", name="p0", pointer="/points/p0")
    mappings = MappingSet(tenant="t", topics={TOPIC: TopicSpec(address=TOPIC, points=(spec,))})

    class Broken(QualityEngine):
        def assess_message(self, topic: Any, msg: Any, now_us: int, plain: Any = None) -> Any:
            if msg.doc["points"]["p0"] == 2.0:
                raise KeyError("a bug")
            return super().assess_message(topic, msg, now_us, plain)

    payloads = [b'{"points": {"p0": %d.0}, "source_ts": %d}' % (v, NOW_US // 1000 + v) for v in (1, 2, 3)]
    rows = build_rows([Envelope("mqtt", TOPIC, NOW_US, p) for p in payloads], mappings, Broken())
    assert [s[1] for s in rows.series[("t", "tw", "p0")]] == [1.0, 3.0]
    (q,) = rows.quarantine
    assert q.reason == "processing_error" and "KeyError" in q.detail and q.raw == payloads[1]
