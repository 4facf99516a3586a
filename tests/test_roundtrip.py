"""Hostile names and values survive a round trip through a real InfluxDB 1.x exactly.

InfluxDB is the oracle: whatever the encoder accepts must be stored unchanged, and whatever
it refuses must come with a reason. Hypothesis generates the names and values.
"""

import uuid

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pusher import Reading
from pusher.config import InfluxConfig
from pusher.errors import RefusedReading
from pusher.points.lineprotocol import Encoder
from pusher.writers.influx_v1 import InfluxV1Writer

SPECIALS = ",= \"\\#'\t"
names = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIALS),
        st.characters(blacklist_categories=("Cs", "Cc")),
    ),
    min_size=1,
    max_size=10,
)
field_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        max_size=30,
    ),
)


def read_back(influxdb1, db: str) -> list[dict]:
    body = influxdb1.query("SELECT * FROM /.*/ GROUP BY *", db=db, epoch="s")
    series = body["results"][0].get("series", [])
    # One point per measurement and distinct field keys: a wildcard query across
    # measurements merges same-named fields of different types. GROUP BY * lists every
    # tag key of the database, empty where a series lacks it.
    return [
        {
            "measurement": s["name"],
            "tags": {k: v for k, v in s.get("tags", {}).items() if v},
            "row": dict(zip(s["columns"], s["values"][0], strict=True)),
        }
        for s in series
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(measurement=names, tag_key=names, tag_value=names, field_key=names, value=field_values)
def test_hostile_point_round_trips_exactly(
    influxdb1, measurement, tag_key, tag_value, field_key, value
):
    reading = Reading(measurement, {field_key: value}, {tag_key: tag_value})
    try:
        line = Encoder("s").encode(reading, "hourly", 1_700_000_000)
    except RefusedReading as refusal:
        assert str(refusal)  # refused, with a reason
        assume(False)
    db = f"rt_{uuid.uuid4().hex[:12]}"
    influxdb1.create_database(db)
    writer = InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=db))
    writer.post((line + "\n").encode())
    [stored] = read_back(influxdb1, db)
    assert stored["measurement"] == measurement
    assert stored["tags"] == {"granularity": "hourly", tag_key: tag_value}
    row = stored["row"]
    assert row["time"] == 1_700_000_000
    if isinstance(value, float):
        # InfluxDB's JSON writes integral floats without a point ("1e16" as 10000000000000000).
        assert float(row[field_key]) == value
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        # Its JSON answer goes through float64; compare at that precision.
        assert row[field_key] == pytest.approx(value, rel=1e-15)
    else:
        assert row[field_key] == value


def test_fixed_hostile_examples_round_trip(influxdb1, influx_db):
    readings = [
        Reading('cpu load,"x"', {'val ue="q"': 'a "quoted" \\ backslash'}, {"ho st": "a=b,c"}),
        Reading("données", {"été": 1.25}, {"région": "Île-de-France"}),
        Reading("back\\slash", {"b": True}, {"t": "mid\\dle"}),
        Reading("tab\there", {"f": -(2**63)}, {"t": "x"}),
    ]
    encoder = Encoder("s")
    body = "\n".join(encoder.encode(r, "daily", 1_700_000_000) for r in readings) + "\n"
    InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=influx_db)).post(
        body.encode()
    )
    stored = {s["measurement"]: s for s in read_back(influxdb1, influx_db)}
    assert set(stored) == {r.measurement for r in readings}
    for reading in readings:
        got = stored[reading.measurement]
        assert got["tags"] == {"granularity": "daily", **reading.tags}
        for key, value in reading.fields.items():
            assert got["row"][key] == value
