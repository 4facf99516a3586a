"""Hostile names and values survive a round trip through a real InfluxDB 1.x exactly.

InfluxDB is the oracle: whatever the encoder accepts must be stored unchanged, and whatever
it refuses must come with a reason. Hypothesis generates the names and values.
"""

import itertools
import os
import re
import uuid

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from servers import QueryError

from pusher import Reading
from pusher.config import InfluxConfig
from pusher.errors import RefusedReading
from pusher.points.lineprotocol import (
    FLUX_ROW_COLUMNS,
    INFLUXQL_SYMBOLS,
    INFLUXQL_SYSTEM_SOURCES,
    Encoder,
)
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


def encoded_or_skipped(reading: Reading) -> str:
    """The reading's line; a refused reading must say why, and is not an example."""
    try:
        return Encoder("s").encode(reading, "hourly", 1_700_000_000)
    except RefusedReading as refusal:
        assert str(refusal)  # refused, with a reason
        assume(False)
        raise  # not reached: assume(False) ends the example


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(measurement=names, tag_key=names, tag_value=names, field_key=names, value=field_values)
def test_hostile_point_round_trips_exactly(
    influxdb1, measurement, tag_key, tag_value, field_key, value
):
    line = encoded_or_skipped(Reading(measurement, {field_key: value}, {tag_key: tag_value}))
    db = f"rt_{uuid.uuid4().hex[:12]}"
    influxdb1.create_database(db)
    try:
        writer = InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=db))
        writer.post((line + "\n").encode())
        [stored] = read_back(influxdb1, db)
    finally:  # a database per example: dropped, or a long search runs out of file handles
        influxdb1.query(f'DROP DATABASE "{db}"')
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


FLUX_COLUMNS = {"_start", "_stop", "_time", "_value", "_field", "_measurement"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(measurement=names, tag_key=names, tag_value=names, field_key=names, value=field_values)
def test_hostile_point_round_trips_exactly_on_2x(
    influxdb2, measurement, tag_key, tag_value, field_key, value
):
    line = encoded_or_skipped(Reading(measurement, {field_key: value}, {tag_key: tag_value}))
    bucket = f"rt_{uuid.uuid4().hex[:12]}"
    bucket_id = influxdb2.create_bucket(bucket)
    try:
        influxdb2.write(bucket, line + "\n")
        [row] = influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: 0)')
    finally:  # a bucket per example: deleted, so a long search stays small
        influxdb2.api("DELETE", f"/api/v2/buckets/{bucket_id}")
    # The CSV reader keeps the later of two columns of one name: a tag `result` or `table`
    # replaces Flux's own column of that name.
    tags = {k: v for k, v in row.items()
            if k not in FLUX_COLUMNS and (k not in ("result", "table") or k == tag_key)}
    assert (row["_measurement"], row["_field"]) == (measurement, field_key)
    assert tags == {"granularity": "hourly", tag_key: tag_value}
    assert row["_time"] == "2023-11-14T22:13:20Z"
    if isinstance(value, bool):
        assert row["_value"] == ("true" if value else "false")
    elif isinstance(value, float):
        assert float(row["_value"]) == value
    elif isinstance(value, int):
        assert int(row["_value"]) == value
    else:
        assert row["_value"] == value


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


# Every name of up to 3 characters over the characters line protocol treats specially, and of
# 4 over the ones that interact with a backslash: hypothesis samples, this sweeps them all.
SWEEP_CHARS = "a\\, =\"\t#'"
SWEEP_CORE = "a\\, =\""
SWEEP_NAMES = sorted(
    {"".join(p) for n in (1, 2, 3) for p in itertools.product(SWEEP_CHARS, repeat=n)}
    | {"".join(p) for p in itertools.product(SWEEP_CORE, repeat=4)}
)
POSITIONS = ("measurement", "tag key", "tag value", "field key")


def sweep_refuses(position: str, name: str) -> bool:
    """The reasons a sweep name (over SWEEP_CHARS) may be refused, written out apart from
    the encoder: a trailing backslash anywhere; in a measurement or a field key a backslash
    before an escapable character or a leading tab; in a measurement a leading '#'."""
    if name.endswith("\\"):
        return True
    if position in ("tag key", "tag value"):
        return False
    if name.startswith("\t") or re.search(r'\\[, ="]', name):
        return True
    return position == "measurement" and name.startswith("#")


def sweep_reading(position: str, index: int, name: str) -> Reading:
    """A reading carrying `name` in `position`, told apart from the others by `index`."""
    if position == "measurement":
        return Reading(name, {"f": 1}, {"i": str(index)})
    if position == "tag key":
        return Reading(f"m{index}", {"f": 1}, {name: "x"})
    if position == "tag value":
        return Reading(f"m{index}", {"f": 1}, {"t": name})
    return Reading(f"m{index}", {name: 1}, {})


def encode_sweep(position: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(lines, {measurement or i: the name it carries}, {refused name: reason})."""
    encoder, lines, expected, refused = Encoder("s"), [], {}, {}
    for index, name in enumerate(SWEEP_NAMES):
        try:
            lines.append(encoder.encode(sweep_reading(position, index, name), "hourly",
                                        1_700_000_000))
        except RefusedReading as refusal:
            refused[name] = str(refusal)
            continue
        expected[str(index) if position == "measurement" else f"m{index}"] = name
    return lines, expected, refused


def stored_v2(influxdb2, bucket: str, position: str) -> dict[str, str]:
    stored = {}
    for row in influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: 0)'):
        if position == "measurement":
            stored[row["i"]] = row["_measurement"]
        elif position == "field key":
            stored[row["_measurement"]] = row["_field"]
        elif position == "tag value":
            stored[row["_measurement"]] = row["t"]
        else:
            [key] = set(row) - {"result", "table", "_start", "_stop", "_time", "_value",
                                "_field", "_measurement", "granularity"}
            stored[row["_measurement"]] = key
    return stored


def stored_v1(influxdb1, db: str, position: str) -> dict[str, str]:
    # SHOW statements list names without reading every series' columns.
    if position == "measurement":
        rows = influxdb1.query('SHOW TAG VALUES WITH KEY = "i"', db=db)["results"][0]["series"]
        return {value: series["name"] for series in rows for _, value in series["values"]}
    statement = {"tag key": "SHOW TAG KEYS", "field key": "SHOW FIELD KEYS",
                 "tag value": 'SHOW TAG VALUES WITH KEY = "t"'}[position]
    stored = {}
    for series in influxdb1.query(statement, db=db)["results"][0]["series"]:
        names = [row[-1] if position == "tag value" else row[0] for row in series["values"]]
        names = [n for n in names if n != "granularity"]
        assert len(names) == 1, (series["name"], names)
        stored[series["name"]] = names[0]
    return stored


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("api", ["v1", "v2"])
def test_every_short_special_name_is_stored_exactly_or_refused(request, api, position):
    """Found by hypothesis on CI: the field key '\\,' was written as '\\\\,', which InfluxDB
    refuses (the backslash before ',' is read as an escape). No name may be refused by the
    server, lost or stored differently; what pusher refuses it refuses with a reason."""
    lines, expected, refused = encode_sweep(position)
    assert all(refused.values())
    # Refused are exactly the names with a reason line protocol has: not one more.
    assert set(refused) == {name for name in SWEEP_NAMES if sweep_refuses(position, name)}
    body = ("\n".join(lines) + "\n").encode()
    name = f"sweep_{uuid.uuid4().hex[:12]}"
    if api == "v1":
        influxdb1 = request.getfixturevalue("influxdb1")
        influxdb1.create_database(name)
        InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=name)).post(body)
        stored = stored_v1(influxdb1, name, position)
    else:
        influxdb2 = request.getfixturevalue("influxdb2")
        influxdb2.create_bucket(name)
        influxdb2.write(name, body.decode())
        stored = stored_v2(influxdb2, name, position)
    assert stored == expected
    # A name with a backslash before an escapable character is refused only in the
    # positions where InfluxDB would read it as an escape.
    if position in ("tag key", "tag value"):
        assert not any("backslash before" in reason for reason in refused.values())
    else:
        assert "has a backslash before ','" in refused["a\\,a"]
        assert "has a backslash before '\"'" in refused["\\\""]


def test_influxql_system_sources_are_refused_as_measurements(influxdb1, influx_db):
    """Found by a hypothesis search: the measurement '_series' is stored by InfluxDB 1.x but
    no SELECT reads it back. Each such name is refused; a name beside them goes through."""
    near = ["_fieldKey", "_Series", "_series_", "_measurement", "series"]
    for name in sorted(INFLUXQL_SYSTEM_SOURCES):
        with pytest.raises(RefusedReading, match="InfluxQL system source"):
            Encoder("s").encode(Reading(name, {"f": 1}), "hourly", 1_700_000_000)
        # The reason is the server's: written by hand, the point is stored and unreadable.
        requests.post(f"{influxdb1.url}/write", params={"db": influx_db, "precision": "s"},
                      data=f"{name} f=1i 1700000000", timeout=30).raise_for_status()
        with pytest.raises(QueryError, match="system source"):
            influxdb1.select(f'SELECT * FROM "{name}"', db=influx_db)
    lines = [Encoder("s").encode(Reading(name, {"f": 1}), "hourly", 1_700_000_000)
             for name in near]
    InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=influx_db)).post(
        ("\n".join(lines) + "\n").encode())
    for name in near:
        assert influxdb1.select(f'SELECT "f" FROM "{name}"', db=influx_db)[0]["f"] == 1


def test_the_suite_replays_the_same_generated_examples():
    """CONTRIBUTING.md: the suite's profile is derandomized, the `search` profile is not."""
    profile = os.environ.get("HYPOTHESIS_PROFILE", "suite")
    assert settings.default.derandomize is (profile == "suite")


def test_keys_named_like_influxql_symbols_are_refused(influxdb1, influx_db):
    """Found by a hypothesis search: a field `_name` reads back as the measurement's name at
    time 0. Each InfluxQL symbol is refused as a field key and a tag key."""
    writer = InfluxV1Writer(InfluxConfig(url=influxdb1.url, api="v1", database=influx_db))
    for number, key in enumerate(sorted(INFLUXQL_SYMBOLS)):
        for reading in (Reading("m", {key: 5}), Reading("m", {"f": 5}, {key: "v"})):
            with pytest.raises(RefusedReading, match="is a symbol of InfluxQL"):
                Encoder("s").encode(reading, "hourly", 1_700_000_000)
        # The reason is the server's: written by hand, the field does not read back.
        writer.post(f"f{number} {key}=5i 1700000000\n".encode())
        read = influxdb1.select(f'SELECT "{key}" FROM "f{number}"', db=influx_db)
        assert read != [{"time": 1_700_000_000, key: 5}]
        if key == "_name":  # InfluxQL's own value: the measurement's name, at time 0
            assert read == [{"time": 0, "_name": f"f{number}"}]
    # A name beside them is stored and read back as written.
    writer.post((Encoder("s").encode(Reading("near", {"_names": 5}, {"_tagKeys": "v"}), "hourly",
                                     1_700_000_000) + "\n").encode())
    assert influxdb1.select('SELECT "_names", "_tagKeys" FROM "near"', db=influx_db) == [
        {"time": 1_700_000_000, "_names": 5, "_tagKeys": "v"}]


def test_tags_named_like_flux_row_columns_are_refused(influxdb2, influx_bucket):
    """Found by a probe on 2.7.12: a tag `_value` or `_time` is accepted and then every Flux
    query of the bucket fails; `_start`, `_stop` clash with range()'s columns. Each is
    refused; tags `result` and `table` (plausible names) go through and Flux reads them."""
    query = f'from(bucket: "{influx_bucket}") |> range(start: 0)'
    for key in sorted(FLUX_ROW_COLUMNS):
        with pytest.raises(RefusedReading, match="column of every Flux row"):
            Encoder("s").encode(Reading("m", {"f": 1}, {key: "v"}), "hourly", 1_700_000_000)
        # The reason is the server's: written by hand to a bucket of its own, Flux fails.
        bucket = f"{influx_bucket}_{key}"
        influxdb2.create_bucket(bucket)
        influxdb2.write(bucket, f"m,{key}=v f=1i 1700000000")
        with pytest.raises(QueryError):
            influxdb2.flux(f'from(bucket: "{bucket}") |> range(start: 0)'
                           f' |> rename(columns: {{"{key}": "renamed"}})')
    line = Encoder("s").encode(Reading("m", {"f": 1}, {"result": "r", "table": "t"}), "hourly",
                               1_700_000_000)
    influxdb2.write(influx_bucket, line)
    [row] = influxdb2.flux(query + ' |> rename(columns: {result: "r_tag", table: "t_tag"})')
    assert (row["r_tag"], row["t_tag"], row["_value"]) == ("r", "t", "1")
