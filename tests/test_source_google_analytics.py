"""The google-analytics source through google-api-python-client's own HttpMockSequence.

Google is the one service tests cannot reach: the client is built from the discovery
document the package ships and fed realistic runReport answers; nothing leaves the machine.
"""

import io
import json
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from cli_helpers import run_pusher
from googleapiclient.http import HttpMock, HttpMockSequence

from pusher.errors import ConfigError, SourceError
from pusher.points.lineprotocol import Encoder
from pusher.reading import Granularity, Note, Window
from pusher.runs.pipeline import Run, collect
from pusher.sources import check_options
from pusher.sources.google_analytics import RETRY_DELAYS, google_analytics
from pusher.writers.sinks import StdoutSink

ENDPOINT = "https://ga-proxy.example.test/"
# The daily window of 27 Nov 2026 in Paris: [26 Nov 23:00 UTC, 27 Nov 23:00 UTC).
PARIS_DAY = Window(datetime(2026, 11, 26, 23, tzinfo=UTC), datetime(2026, 11, 27, 23, tzinfo=UTC),
                   Granularity.DAILY)
METRICS = ["sessions", "screenPageViews", "newUsers", "engagementRate"]
QUOTA_OK = {"tokensPerDay": {"consumed": 41, "remaining": 199_959},
            "tokensPerHour": {"consumed": 41, "remaining": 39_959},
            "concurrentRequests": {"consumed": 0, "remaining": 10},
            "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
            "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
            "tokensPerProjectPerHour": {"consumed": 41, "remaining": 13_959}}


def report(rows, row_count, dimensions=("date", "deviceCategory"), metadata=None, quota=None):
    """A runReport answer shaped like the API's (int64 counts are JSON strings, as in GA)."""
    return json.dumps({
        "dimensionHeaders": [{"name": d} for d in dimensions],
        "metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"},
                          {"name": "screenPageViews", "type": "TYPE_INTEGER"},
                          {"name": "newUsers", "type": "TYPE_INTEGER"},
                          {"name": "engagementRate", "type": "TYPE_FLOAT"}],
        "rows": [{"dimensionValues": [{"value": v} for v in dims],
                  "metricValues": [{"value": v} for v in mets]} for dims, mets in rows],
        "rowCount": row_count,
        "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Paris", **(metadata or {})},
        "propertyQuota": quota or QUOTA_OK,
        "kind": "analyticsData#runReport",
    })


def error(code, status, message):
    body = {"error": {"code": code, "message": message, "status": status}}
    return ({"status": str(code), "content-type": "application/json"}, json.dumps(body))


def ok(body):
    return ({"status": "200", "content-type": "application/json"}, body)


DAYS = [
    (("20261124", "desktop"), ("120", "433", "31", "0.61")),
    (("20261124", "mobile"), ("98", "210", "40", "0.48")),
    (("20261125", "desktop"), ("131", "470", "29", "0.63")),
    (("20261126", "desktop"), ("117", "401", "22", "0.6")),
    (("20261127", "desktop"), ("54", "150", "9", "0.57")),
]


def run_source(http, window=PARIS_DAY, sleep=None, **options):
    options = {"property": "properties/123456", "metrics": METRICS,
               "dimensions": ["date", "deviceCategory"], "credentials": "anonymous",
               "endpoint": ENDPOINT, **options}
    return list(google_analytics(window, http=http, sleep=sleep or (lambda s: None),
                                 **options))


def sent_bodies(http):
    return [json.loads(body) for _uri, _method, body, _headers in http.request_sequence]


def test_pages_through_every_row_and_restates_three_days():
    http = HttpMockSequence([ok(report(DAYS[:2], 5)), ok(report(DAYS[2:4], 5)),
                             ok(report(DAYS[4:], 5))])
    readings = run_source(http, page_size=2)
    bodies = sent_bodies(http)
    assert [b["offset"] for b in bodies] == [0, 2, 4]
    assert all(b["limit"] == 2 and b["returnPropertyQuota"] is True for b in bodies)
    # The window's day and the three before it. Without a `timezone` option the property's
    # zone is unknown until the answer names it: UTC dates widened by a day on each side,
    # which covers every zone; rows of days outside the property's own range are dropped.
    assert bodies[0]["dateRanges"] == [{"startDate": "2026-11-22", "endDate": "2026-11-28"}]
    assert bodies[0]["metrics"] == [{"name": m} for m in METRICS]
    uri = http.request_sequence[0][0]
    assert uri.startswith(f"{ENDPOINT}v1beta/properties/123456:runReport")
    assert len(readings) == 5
    first = readings[0]
    assert first.measurement == "analytics"
    assert first.fields == {"sessions": 120, "screenPageViews": 433, "newUsers": 31,
                            "engagementRate": 0.61}
    assert type(first.fields["sessions"]) is int and type(first.fields["engagementRate"]) is float
    assert first.tags == {"deviceCategory": "desktop"}
    assert first.granularity is Granularity.DAILY
    assert first.time == datetime(2026, 11, 23, 23, tzinfo=UTC)  # midnight in Paris
    assert readings[-1].time == PARIS_DAY.start


def test_date_hour_gives_hourly_points_and_drops_hours_after_the_window():
    window = Window.containing(datetime(2026, 11, 27, 9, 30, tzinfo=UTC), Granularity.HOURLY)
    rows = [(("2026112709",), ("3", "9", "1", "0.5")),  # 08:00 UTC
            (("2026112710",), ("4", "8", "0", "0.5")),  # 09:00 UTC: the window itself
            (("2026112711",), ("1", "1", "0", "0.5"))]  # 10:00 UTC: not over yet
    http = HttpMockSequence([ok(report(rows, 3, dimensions=("dateHour",)))])
    readings = run_source(http, window=window, dimensions=["dateHour"], restate_days=1)
    assert [r.time for r in readings] == [datetime(2026, 11, 27, 8, tzinfo=UTC), window.start]
    assert all(r.granularity is Granularity.HOURLY and r.tags == {} for r in readings)
    # The zone is unknown until the answer names it: a day more on each side.
    assert sent_bodies(http)[0]["dateRanges"] == [{"startDate": "2026-11-25",
                                                   "endDate": "2026-11-28"}]


def test_timezone_option_overrides_the_response_and_makes_the_range_exact():
    http = HttpMockSequence([ok(report(DAYS[4:], 1))])
    readings = run_source(http, timezone="UTC")
    assert readings[0].time == datetime(2026, 11, 27, tzinfo=UTC)
    http = HttpMockSequence([ok(report(DAYS[4:], 1))])
    run_source(http, timezone="Europe/Paris")
    assert sent_bodies(http)[0]["dateRanges"] == [{"startDate": "2026-11-24",
                                                   "endDate": "2026-11-27"}]


def test_accuracy_and_quota_notes_reach_the_run_summary():
    metadata = {"subjectToThresholding": True, "dataLossFromOtherRow": True,
                "samplingMetadatas": [{"samplesReadCount": "250000",
                                       "samplingSpaceSize": "1000000"}]}
    quota = {**QUOTA_OK, "tokensPerDay": {"consumed": 195_000, "remaining": 5_000}}
    http = HttpMockSequence([ok(report(DAYS, 5, metadata=metadata, quota=quota))])
    options = {"property": 123456, "metrics": METRICS, "dimensions": ["date", "deviceCategory"],
               "credentials": "anonymous", "endpoint": ENDPOINT, "http": http}
    out = io.StringIO()
    run = Run("ga", google_analytics, options, "daily", Encoder("s"), StdoutSink(out))
    record = collect(run, [PARIS_DAY])
    assert record.readings == record.written == 5 and record.ok
    assert record.notes == ["GA: thresholding applied (rows with few users withheld)",
                            "GA: sampled data (25.0% of events read)",
                            "GA: some rows grouped into (other)",
                            "GA quota tokensPerDay: 5000 of 200000 left"]
    assert "(GA: sampled data (25.0% of events read))" in record.summary()
    # Stamped with the row's own day (Paris midnight, 2026-11-23T23:00:00Z), not the window.
    assert out.getvalue().splitlines()[0] == (
        "analytics,deviceCategory=desktop,granularity=daily sessions=120i,screenPageViews=433i,"
        "newUsers=31i,engagementRate=0.61 1795474800")


def test_exhausted_quota_backs_off_then_fails_in_one_line():
    exhausted = error(429, "RESOURCE_EXHAUSTED",
                      "Exhausted property tokens per hour quota. This property may consume "
                      "more tokens after this hour.")
    http = HttpMockSequence([exhausted] * (len(RETRY_DELAYS) + 1))
    slept = []
    with pytest.raises(SourceError) as caught:
        run_source(http, sleep=slept.append)
    assert slept == list(RETRY_DELAYS)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Google Analytics quota exhausted for properties/123456 "
                              "(HTTP 429, gave up after 3 retries): Exhausted property tokens")


def test_a_transient_quota_or_server_error_is_retried():
    http = HttpMockSequence([error(429, "RESOURCE_EXHAUSTED", "Too many concurrent requests"),
                             error(503, "UNAVAILABLE", "The service is currently unavailable."),
                             ok(report(DAYS[:1], 1))])
    slept = []
    assert len(run_source(http, sleep=slept.append)) == 1
    assert slept == list(RETRY_DELAYS[:2])


def test_server_errors_fail_after_the_retries():
    http = HttpMockSequence([error(500, "INTERNAL", "Internal error encountered.")] * 4)
    with pytest.raises(SourceError, match=r"server error \(HTTP 500 \(INTERNAL\), after 3 "
                                          r"retries\): Internal error encountered\.$"):
        run_source(http)


def test_permission_denied_is_one_clear_line_without_retrying():
    http = HttpMockSequence([error(403, "PERMISSION_DENIED",
                                   "User does not have sufficient permissions for this property. "
                                   "To learn more about Property ID, see https://developers."
                                   "google.com/analytics/devguides/reporting/data/v1/property-id.")])
    slept = []
    with pytest.raises(SourceError) as caught:
        run_source(http, sleep=slept.append)
    assert slept == []
    assert str(caught.value).startswith(
        "Google Analytics denied access to properties/123456 (HTTP 403 (PERMISSION_DENIED)): "
        "User does not have sufficient permissions")


def test_a_bad_request_names_the_problem():
    http = HttpMockSequence([error(400, "INVALID_ARGUMENT",
                                   "Field sesions is not a valid metric.")])
    with pytest.raises(SourceError, match=r"HTTP 400 .*Field sesions is not a valid metric"):
        run_source(http)


def test_service_account_credentials_sign_the_requests(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "demo", "private_key_id": "k1",
        "private_key": pem, "client_email": "pusher@demo.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    token = ok(json.dumps({"access_token": "ya29.test-token", "expires_in": 3600,
                           "token_type": "Bearer"}))
    http = HttpMockSequence([token, ok(report(DAYS[:1], 1))])
    readings = run_source(http, credentials=str(path), endpoint=None)
    assert len(readings) == 1
    (token_uri, *_), (report_uri, _, _, headers) = http.request_sequence
    assert token_uri == "https://oauth2.googleapis.com/token"
    assert report_uri.startswith("https://analyticsdata.googleapis.com/v1beta/properties/123456")
    assert headers["authorization"] == "Bearer ya29.test-token"


def test_notes_come_from_the_page_alone():
    http = HttpMockSequence([ok(report(DAYS[:1], 1))])
    assert not [r for r in run_source(http) if isinstance(r, Note)]


@pytest.mark.parametrize(("options", "key", "problem"), [
    ({"dimensions": ["deviceCategory"]}, "dimensions", "exactly one of date"),
    ({"dimensions": ["date", "dateHour"]}, "dimensions", "exactly one of date"),
    ({"metrics": []}, "metrics", "non-empty list"),
    ({"property": "UA-1234-1"}, "property", "GA4 property id"),
    ({"credentials": "anonymous"}, "credentials", "needs an endpoint"),
    ({"credentials": "/nonexistent/sa.json"}, "credentials", "no such service-account"),
    ({"restate_days": -1}, "restate_days", "integer from 0"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({"http": "x"}, "http", "for tests"),
])
def test_bad_options_fail_at_config_time(options, key, problem):
    base = {"property": "123", "metrics": ["sessions"], "dimensions": ["date"]}
    with pytest.raises(ConfigError) as caught:
        check_options(google_analytics, base | options, file="pusher.toml", key="sources.ga")
    assert caught.value.key == f"sources.ga.{key}"
    assert problem in caught.value.problem


class _Emulator(BaseHTTPRequestHandler):
    """A stand-in GA endpoint on loopback (what `endpoint` + anonymous credentials are for)."""

    answers: list[tuple[int, str]] = []
    requests: list[dict] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        type(self).requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        status, body = type(self).answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def emulator():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Emulator)
    _Emulator.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Emulator
    server.shutdown()
    server.server_close()


def write_config(tmp_path, endpoint):
    path = tmp_path / "pusher.toml"
    path.write_text(f"""
[pusher]
state_dir = "state"
timezone = "Europe/Paris"
[influx]
url = "http://127.0.0.1:1"
api = "v1"
database = "db"
[sources.ga]
type = "google-analytics"
granularity = "daily"
property = "123456"
credentials = "anonymous"
endpoint = "{endpoint}"
metrics = {json.dumps(METRICS)}
dimensions = ["date", "deviceCategory"]
""")
    return path


def test_collect_dry_run_through_an_endpoint(tmp_path, emulator):
    server, handler = emulator
    handler.answers = [(200, report(DAYS, 5))]
    config = write_config(tmp_path, f"http://127.0.0.1:{server.server_port}/")
    done = run_pusher("collect", "ga", "--dry-run", "--since", "2026-11-27T00:00:00+01:00",
                      "--until", "2026-11-28T00:00:00+01:00", config=config)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5
    assert lines[-1] == ("analytics,deviceCategory=desktop,granularity=daily sessions=54i,"
                         "screenPageViews=150i,newUsers=9i,engagementRate=0.57 1795734000")
    assert handler.requests[0]["path"] == "/v1beta/properties/123456:runReport?alt=json"
    assert "- ga windows=1 readings=5 printed=5 refused=0 [done]" in done.stderr


def test_collect_reports_a_permission_error_in_one_line(tmp_path, emulator):
    server, handler = emulator
    handler.answers = [(403, error(403, "PERMISSION_DENIED", "User does not have "
                                   "sufficient permissions for this property.")[1])]
    config = write_config(tmp_path, f"http://127.0.0.1:{server.server_port}/")
    done = run_pusher("collect", "ga", "--dry-run", "--since", "2026-11-27T00:00:00+01:00",
                      "--until", "2026-11-28T00:00:00+01:00", config=config)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    summary = [line for line in done.stderr.splitlines() if line.startswith("- ga ")]
    assert len(summary) == 1
    assert "[failed: daily@" in summary[0] and "denied access to properties/123456" in summary[0]


class PropertyInZone(HttpMock):
    """Answers runReport like GA for a property in `zone`: one row per local hour label
    (dateHour) of every date asked for, 24 labels a day whatever DST does, as GA reports."""

    def __init__(self, zone):
        super().__init__(headers={"status": "200", "content-type": "application/json"})
        self.zone = zone
        self.ranges = []

    def request(self, uri, method="GET", body=None, headers=None, redirections=1,
                connection_type=None):
        asked = json.loads(body)["dateRanges"][0]
        self.ranges.append((asked["startDate"], asked["endDate"]))
        day, last = date.fromisoformat(asked["startDate"]), date.fromisoformat(asked["endDate"])
        rows = []
        while day <= last:
            rows += [((f"{day:%Y%m%d}{hour:02d}",), ("1", "1", "1", "0.5")) for hour in range(24)]
            day += timedelta(days=1)
        page = json.loads(report(rows, len(rows), dimensions=("dateHour",)))
        page["metadata"]["timeZone"] = self.zone
        self.data = json.dumps(page).encode()
        return super().request(uri, method, body, headers, redirections, connection_type)


def hours_reported(zone, first_day, last_day):
    """The UTC start of every hour GA labels in the property's dates (fold 0 on DST days)."""
    moments, day = set(), first_day
    while day <= last_day:
        for hour in range(24):
            local = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))
            moments.add(local.astimezone(UTC))
        day += timedelta(days=1)
    return moments


@pytest.mark.parametrize("first_utc_day", [date(2026, 10, 31), date(2026, 3, 7)],
                         ids=["dst-ends-1-nov", "dst-starts-8-mar"])
@pytest.mark.parametrize("restate_days", [0, 2])
def test_hourly_windows_get_every_hour_of_a_property_far_from_utc(first_utc_day, restate_days):
    # Los Angeles is UTC-7/-8: the first hours of each UTC day belong to the day before
    # there, which a date range computed in UTC never asks for.
    span_start = datetime.combine(first_utc_day, datetime.min.time(), UTC)
    windows = [Window(span_start + timedelta(hours=h), span_start + timedelta(hours=h + 1),
                      Granularity.HOURLY) for h in range(48)]
    http = PropertyInZone("America/Los_Angeles")
    collected = {}
    for window in windows:
        for reading in run_source(http, window=window, dimensions=["dateHour"],
                                  restate_days=restate_days):
            assert reading.time < window.end
            collected.setdefault(window.start, set()).add(reading.time)
    every_hour = hours_reported("America/Los_Angeles", first_utc_day - timedelta(days=3),
                                first_utc_day + timedelta(days=2))
    wanted = {m for m in every_hour if span_start <= m < windows[-1].end}
    assert wanted <= set().union(*collected.values())
    # Each window writes its own hour whenever GA labels it (the second 01:00 of the day DST
    # ends in Los Angeles has no label of its own, as in GA's reports).
    missing = [w.start for w in windows if w.start not in collected.get(w.start, set())]
    assert missing == sorted(set(w.start for w in windows) - every_hour)
    # And nothing older than restate_days before the window, in the property's own dates.
    zone = ZoneInfo("America/Los_Angeles")
    for start, times in collected.items():
        oldest = (start.astimezone(zone) - timedelta(days=restate_days)).date()
        assert min(t.astimezone(zone).date() for t in times) == oldest


def test_daily_windows_get_the_property_day_that_starts_inside_them():
    # Auckland is UTC+13 in November: its 28 November starts at 11:00 UTC on the 27th, inside
    # the UTC day of the 27th, and a date range computed in UTC never asks for it.
    window = Window(datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC),
                    Granularity.DAILY)
    rows = [((f"202611{d}", "desktop"), ("5", "9", "1", "0.5")) for d in (25, 26, 27, 28, 29)]
    page = json.loads(report(rows, len(rows)))
    page["metadata"]["timeZone"] = "Pacific/Auckland"
    http = HttpMockSequence([ok(json.dumps(page))])
    readings = run_source(http, window=window, restate_days=0)
    assert sent_bodies(http)[0]["dateRanges"] == [{"startDate": "2026-11-26",
                                                   "endDate": "2026-11-28"}]
    # Auckland's 27th (starts inside the UTC day before) and 28th (inside the window).
    assert [r.time for r in readings] == [datetime(2026, 11, 26, 11, tzinfo=UTC),
                                          datetime(2026, 11, 27, 11, tzinfo=UTC)]
