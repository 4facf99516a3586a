"""Secrets never reach a text pusher writes (issue 11 §8): every command's output and every
file of the state directory are searched for them, with the servers down so that error
messages carry the URLs; and secrets that are plain words do not hide those words elsewhere.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from cli_helpers import run_pusher
from ops_helpers import write_config
from servers import free_port

from pusher.secrets import Redactor, mask_positions
from pusher.state import read_json
from pusher.writers.deadletter import DeadLetter

SECRETS = {"INFLUX_PASSWORD": "Infl-Pass-77x", "DB_PASSWORD": "Qs-Pass-1234",
           "PROM_TOKEN": "tok-Xy12-abcdef", "API_KEY": "k3y-in-a-query"}


def write_secrets_config(tmp_path: Path) -> Path:
    """Secrets in every kind of position; every server down."""
    down = free_port()
    sql = '[[sources.{}.queries]]\nsql = "SELECT 1 AS one"\nmeasurement = "one"\n'
    return write_config(tmp_path, f"http://pusher:${{INFLUX_PASSWORD}}@127.0.0.1:{down}",
                        "metrics", f"""
[sources.orders]
type = "sql"
url = "postgresql://pusher@127.0.0.1:{down}/shop?password=${{DB_PASSWORD}}"
{sql.format("orders")}
[sources.same]
type = "sql"
url = "postgresql://shop:shop@127.0.0.1:{down}/shop"
{sql.format("same")}
[sources.prom]
type = "prometheus"
url = "http://127.0.0.1:{down}/?api_key=${{API_KEY}}"
headers = {{ Authorization = "Bearer ${{PROM_TOKEN}}" }}
[[sources.prom.queries]]
query = "up"
measurement = "up"
[sources.ga]
type = "google-analytics"
property = 123
metrics = ["sessions"]
dimensions = ["date"]
credentials = "default"
[sources.counts]
type = "python"
callable = "demo_readers:counts"
""")


PLUGINS = str(Path(__file__).parent / "plugins")
ENV = {**SECRETS, "NO_GCE_CHECK": "True", "PYTHONPATH": PLUGINS}


def pusher(config, *args):
    return run_pusher(*args, config=config, env=ENV)


def run_daemon(config: Path) -> str:
    """`pusher run` until every source ran once, then SIGTERM: its whole stderr."""
    process = subprocess.Popen([sys.executable, "-m", "pusher", "--config", str(config), "-v",
                                "run"], env={**ENV, **_base_env()}, stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    runs = config.parent / "state" / "runs.json"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if runs.exists() and len(read_json(runs, runs.parent)) == 5:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert len(read_json(runs, runs.parent)) == 5, err
    return out + err


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PUSHER_")}


def test_no_secret_in_any_output_or_state_file(tmp_path):
    config = write_secrets_config(tmp_path)
    outputs = {}
    # With an empty spool, the write itself fails: its reason (the URL) is the run's error.
    outputs["collect counts"] = pusher(config, "collect", "counts").stderr
    runs = read_json(tmp_path / "state" / "runs.json", tmp_path / "state")
    assert "http://pusher:***@127.0.0.1" in runs["counts"]["error"]
    for args in (("collect", "--all"), ("collect", "--all", "--dry-run"), ("status",),
                 ("config",), ("config", "--json"), ("validate",), ("spool", "show"),
                 ("spool", "show", "--json"), ("sources",)):
        done = pusher(config, *args)
        assert "Traceback" not in done.stderr, done.stderr
        outputs[" ".join(args)] = done.stdout + done.stderr
    outputs["run"] = run_daemon(config)
    # An operator moves a spooled batch aside: the dead-letter file is searched too.
    shown = json.loads(pusher(config, "spool", "show", "--json").stdout)
    moved = pusher(config, "spool", "dead-letter", shown["batches"][0]["batch"])
    assert moved.returncode == 0, moved.stderr
    outputs["spool dead-letter"] = moved.stdout + moved.stderr
    state = tmp_path / "state"
    files = {str(p): p.read_bytes().decode(errors="replace") for p in state.rglob("*")
             if p.is_file()}
    assert any(name.endswith("runs.json") for name in files) and any(
        name.endswith(".lp") for name in files)
    for where, text in {**outputs, **files}.items():
        for secret in SECRETS.values():
            assert secret not in text, f"{secret} in {where}:\n{text}"
    # The failures were said, with the URLs and words that are not secrets left readable.
    collect = outputs["collect --all"]
    assert "postgresql://pusher@127.0.0.1" in collect and "password=***: Operat" in collect
    assert "postgresql://shop:***@127.0.0.1" in collect and "/shop" in collect
    assert "Your default credentials were not found" in collect
    assert 'Authorization = "Bearer ***"' in outputs["config"]


def test_the_rule_masks_positions_and_leaves_words():
    redact = Redactor(["default", "shop", "Qs-Pass-1234", "t"])
    assert redact("Your default credentials were not found") == \
        "Your default credentials were not found"
    assert redact("database 'shop' is missing") == "database 'shop' is missing"
    assert redact("connect Qs-Pass-1234 failed") == "connect *** failed"
    assert mask_positions("postgresql://u:p@h/db?sslmode=require&password=x&token=y") == \
        "postgresql://u:***@h/db?sslmode=require&password=***&token=***"
    assert mask_positions('headers {"Authorization": "Bearer abc"} and Bearer xyz') == \
        'headers {"Authorization": "***"} and Bearer ***'
    assert mask_positions("dbname=shop password=shop user=u") == \
        "dbname=shop password=*** user=u"
    assert mask_positions("to h/db?password=s3:cr3t: refused.") == "to h/db?password=***: refused."
    assert mask_positions("refused=2 written=4 tokens in text") == \
        "refused=2 written=4 tokens in text"


def test_no_secret_in_the_reasons_of_points_influxdb_refused(tmp_path, influxdb1, influx_db):
    """InfluxDB's refusals, reached through a URL with a password: stderr, the
    dead-letter records (InfluxDB's reason) and every state file hold no password."""
    # v is an integer in this database: every clash point (v a string) is refused.
    requests.post(f"{influxdb1.url}/write", params={"db": influx_db},
                  data="clash,k=first v=1i 1767225600000000000", timeout=10).raise_for_status()
    url = influxdb1.url.replace("http://", "http://pusher:${INFLUX_PASSWORD}@")
    config = write_config(tmp_path, url, influx_db, '[sources.clash]\ntype = "python"\n'
                          'callable = "ops_readers:clashing"\nseries = 3\n')
    done = run_pusher("collect", "clash", "--since", "2026-01-01T00:00Z", "--until",
                      "2026-01-01T01:00Z", config=config,
                      env={**SECRETS, "PYTHONPATH": str(Path(__file__).parent / "ops_plugins")})
    assert done.returncode == 1 and "refused=3" in done.stderr, done.stderr
    records = list(DeadLetter(tmp_path / "state" / "dead-letter.jsonl").records())
    assert len(records) == 3
    texts = [done.stdout + done.stderr, *(json.dumps(r) for r in records),
             *(p.read_bytes().decode(errors="replace")
               for p in (tmp_path / "state").rglob("*") if p.is_file())]
    assert any("field type conflict" in r["reason"] for r in records), records
    for text in texts:
        assert SECRETS["INFLUX_PASSWORD"] not in text, text
