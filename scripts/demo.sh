#!/usr/bin/env bash
# The demo: the whole job on a local InfluxDB and Prometheus, under .local/demo/.
#   scripts/demo.sh          run it (the servers keep running for you to explore)
#   scripts/demo.sh stop     stop the demo's servers
# InfluxDB 2.x when it can be had (an influxd 2.x on PATH or cached, or Go >= 1.21 and cargo
# to build one with scripts/influxd2.sh): examples/pusher-v2.toml, and the Grafana dashboards
# can read it. Otherwise InfluxDB 1.x from Debian's package: examples/pusher.toml.
# DEMO_INFLUX=1 forces 1.x. Steps: setup, three days of history, the rollups (2.x: each task
# run once by the server), rollups verify, and what landed per source and measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${DEMO_ROOT:-$PWD/.local/demo}"
influx1_url="http://127.0.0.1:${DEMO_INFLUX_PORT:-18086}"
influx2_url="http://127.0.0.1:${DEMO_INFLUX2_PORT:-18087}"
export PROMETHEUS_URL="http://127.0.0.1:${DEMO_PROMETHEUS_PORT:-19090}"
export PUSHER_DEMO_DB="sqlite:///$root/website.sqlite"
say() { echo "==> $*" >&2; }

stop() {
    for name in influxd influxd1 influxd2 prometheus; do  # influxd: demos before 2.x
        if [ -f "$root/$name.pid" ]; then
            kill "$(cat "$root/$name.pid")" 2>/dev/null || true
            rm -f "$root/$name.pid"
        fi
    done
}
if [ "${1:-}" = stop ]; then stop; echo "demo servers stopped"; exit 0; fi

[ "${PUSHER_DEMO_INSTALL:-1}" = 0 ] || bash scripts/install.sh demo
mkdir -p "$root"
running() { [ -f "$root/$1.pid" ] && kill -0 "$(cat "$root/$1.pid")" 2>/dev/null; }
wait_for() {  # url, name: poll until it answers (a ceiling of 60 s, not a sleep)
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        running "$2" || break
        sleep 0.1
    done
    echo "$2 did not start (port taken? set DEMO_INFLUX_PORT / DEMO_INFLUX2_PORT /" \
        "DEMO_PROMETHEUS_PORT); its log, $root/$2.log:" >&2
    tail -n 5 "$root/$2.log" >&2
    exit 1
}

# --- InfluxDB: 2.x if we can have it, else 1.x ----------------------------------------------
influxd2=""
if [ "${DEMO_INFLUX:-2}" != 1 ]; then
    if ! influxd2=$(bash scripts/influxd2.sh --check 2>/dev/null); then
        if bash scripts/influxd2.sh --can-build >/dev/null 2>&1; then
            say "building InfluxDB 2.x once (cached in .local/influxd; 4 to 8 minutes)"
            influxd2=$(bash scripts/influxd2.sh)
        else
            influxd2=""
            echo "pusher demo: no InfluxDB 2.x (no influxd 2.x cached or on PATH, no Go >= 1.21" \
                "with cargo to build one): running on InfluxDB 1.x; Grafana's dashboards need 2.x" >&2
        fi
    fi
fi

if [ -n "$influxd2" ]; then
    export PUSHER_CONFIG="$PWD/examples/pusher-v2.toml" INFLUX_URL="$influx2_url"
    export PUSHER_DEMO_STATE="$root/state-v2"
    if ! running influxd2; then
        mkdir -p "$root/influxdb2"
        "$influxd2" --bolt-path="$root/influxdb2/influxd.bolt" \
            --engine-path="$root/influxdb2/engine" --sqlite-path="$root/influxdb2/influxd.sqlite" \
            --http-bind-address="${INFLUX_URL#http://}" --reporting-disabled --log-level=warn \
            > "$root/influxd2.log" 2>&1 &
        echo $! > "$root/influxd2.pid"
    fi
    wait_for "$INFLUX_URL/health" influxd2
    .venv/bin/python examples/demo_steps.py onboard "$INFLUX_URL" "$root/influx-token"
    INFLUX_TOKEN=$(cat "$root/influx-token")
    export INFLUX_TOKEN INFLUX_ORG=acme
else
    export PUSHER_CONFIG="$PWD/examples/pusher.toml" INFLUX_URL="$influx1_url"
    export PUSHER_DEMO_STATE="$root/state-v1"
    if ! running influxd1; then
        cat > "$root/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:${DEMO_INFLUX_RPC_PORT:-18088}"
[meta]
  dir = "$root/influxdb/meta"
[data]
  dir = "$root/influxdb/data"
  wal-dir = "$root/influxdb/wal"
[http]
  bind-address = "${INFLUX_URL#http://}"
  log-enabled = false
[continuous_queries]
  run-interval = "10s"
[monitor]
  store-enabled = false
CONF
        influxd run -config "$root/influxdb.conf" > "$root/influxd1.log" 2>&1 &
        echo $! > "$root/influxd1.pid"
    fi
    wait_for "$INFLUX_URL/ping" influxd1
fi

# --- Prometheus, and the samples the demo's queries need ------------------------------------
if ! running prometheus; then
    printf 'global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{targets: ["%s"]}]\n' \
        "${PROMETHEUS_URL#http://}" > "$root/prometheus.yml"
    prometheus --config.file="$root/prometheus.yml" --storage.tsdb.path="$root/prometheus" \
        --web.listen-address="${PROMETHEUS_URL#http://}" > "$root/prometheus.log" 2>&1 &
    echo $! > "$root/prometheus.pid"
fi
wait_for "$PROMETHEUS_URL/-/ready" prometheus
# increase() over the current hour needs two samples in it: poll until the elapsed part of
# the hour holds them (the first scrape comes seconds after the start; a ceiling of 60 s).
say "waiting for Prometheus' samples of this hour"
for _ in $(seq 1 300); do
    elapsed=$(( $(date +%s) % 3600 + 1 ))
    curl -fsS "$PROMETHEUS_URL/api/v1/query" \
        --data-urlencode "query=count_over_time(prometheus_http_requests_total[${elapsed}s]) >= 2" \
        | grep -q '"value"' && break
    sleep 0.2
done

# --- the job ------------------------------------------------------------------------------------
pusher=.venv/bin/pusher
.venv/bin/python examples/demo_data.py "$root/website.sqlite" --days 3
say "pusher setup ($PUSHER_CONFIG)"
$pusher setup
say "pusher collect --all --since 3d (the demo's three days; idempotent)"
status=0
$pusher collect --all --since 3d || status=$?
say "pusher rollups backfill --since 3d (the daily points of those days, now)"
$pusher rollups backfill --since 3d
if [ -n "$influxd2" ]; then
    say "the rollup tasks, each run once by InfluxDB"
    .venv/bin/python examples/demo_steps.py run-tasks "$PUSHER_CONFIG"
fi
say "pusher rollups verify --since 3d (every complete day recomputed from the hourly points)"
$pusher rollups verify --since 3d || status=$?
.venv/bin/python examples/demo_steps.py show "$PUSHER_CONFIG" || status=$?

echo
echo "Servers keep running: InfluxDB $INFLUX_URL, Prometheus $PROMETHEUS_URL."
if [ -n "$influxd2" ]; then
    echo "Grafana: provision grafana/ (docs/dashboards.md) with INFLUX_URL=$INFLUX_URL" \
        "INFLUX_ORG=acme INFLUX_TOKEN=\$(cat $root/influx-token)"
    echo "Try: INFLUX_TOKEN=\$(cat $root/influx-token) PUSHER_DEMO_STATE=$PUSHER_DEMO_STATE" \
        "$pusher -c examples/pusher-v2.toml status"
else
    echo "Try: PUSHER_DEMO_STATE=$PUSHER_DEMO_STATE $pusher -c examples/pusher.toml status"
fi
echo "Stop them with: bash scripts/demo.sh stop"
exit "$status"
