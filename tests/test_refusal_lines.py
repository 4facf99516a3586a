"""Many refused points are said in one line with the count and the first reasons; every one
is still in the dead-letter file (real InfluxDB 1.x refusing points beyond retention)."""

from ops_helpers import grid_source, pusher, write_config

from pusher.writers.deadletter import DeadLetter


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("pusher: WARNING: ")]


def test_points_beyond_retention_are_one_warning_with_the_count(tmp_path, influxdb1,
                                                                influx_db):
    influxdb1.query(f'CREATE RETENTION POLICY "short" ON "{influx_db}" DURATION 1h '
                    "REPLICATION 1 DEFAULT")
    config = write_config(tmp_path, influxdb1.url, influx_db, grid_source(series=20))
    result = pusher("collect", "grid", "--since", "1d", config=config)
    assert result.returncode == 1
    [summary] = [line for line in result.stderr.splitlines() if line.startswith("- grid ")]
    refused = int(summary.split(" refused=")[1].split()[0])
    assert refused >= 460  # 23 or 24 hours beyond the hour InfluxDB keeps, 20 points each
    dead_letter = tmp_path / "state" / "dead-letter.jsonl"
    assert warnings(result.stderr) == [
        f"pusher: WARNING: grid: {refused} points refused: HTTP 400: partial write: points "
        f"beyond retention policy dropped=20 (each is in {dead_letter} with its reason)"]
    assert len(list(DeadLetter(dead_letter).records())) == refused


def test_readings_the_encoder_refuses_are_one_warning_with_the_first_reasons(
        tmp_path, influxdb1, influx_db):
    sources = ('[sources.bad]\ntype = "python"\ncallable = "ops_readers:unstorable"\n'
               'count = 300\n')
    config = write_config(tmp_path, influxdb1.url, influx_db, sources)
    result = pusher("collect", "bad", config=config)
    assert result.returncode == 1
    [line] = warnings(result.stderr)
    assert line.startswith("pusher: WARNING: bad: 600 points refused: field 'v' is nan, ")
    assert line.count("; ") == 2  # three distinct reasons, not 600 lines
    assert len(list(DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records())) == 600
