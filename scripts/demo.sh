#!/usr/bin/env bash
# The demo: installs what is needed, starts a local InfluxDB (1.x API) and Prometheus under
# .local/, generates the demo "website" database, sets up the rollups, runs
# `pusher collect --all` on examples/pusher.toml and shows what landed.
#   scripts/demo.sh          run it (servers keep running for you to explore)
#   scripts/demo.sh stop     stop the demo's servers
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/.local/demo"
export INFLUX_URL="http://127.0.0.1:${DEMO_INFLUX_PORT:-18086}"
export PROMETHEUS_URL="http://127.0.0.1:${DEMO_PROMETHEUS_PORT:-19090}"
export PUSHER_DEMO_DB="sqlite:///$root/website.sqlite"
export PUSHER_CONFIG="$PWD/examples/pusher.toml"

stop() {
    for name in influxd prometheus; do
        if [ -f "$root/$name.pid" ]; then
            kill "$(cat "$root/$name.pid")" 2>/dev/null || true
            rm -f "$root/$name.pid"
        fi
    done
}
if [ "${1:-}" = stop ]; then stop; echo "demo servers stopped"; exit 0; fi

bash scripts/install.sh demo
mkdir -p "$root"
wait_for() {  # url, name
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$2 did not start; see $root/$2.log" >&2
    exit 1
}
running() { [ -f "$root/$1.pid" ] && kill -0 "$(cat "$root/$1.pid")" 2>/dev/null; }

if ! running influxd; then
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
    influxd run -config "$root/influxdb.conf" > "$root/influxd.log" 2>&1 &
    echo $! > "$root/influxd.pid"
fi
if ! running prometheus; then
    printf 'global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{targets: ["%s"]}]\n' \
        "${PROMETHEUS_URL#http://}" > "$root/prometheus.yml"
    prometheus --config.file="$root/prometheus.yml" --storage.tsdb.path="$root/prometheus" \
        --web.listen-address="${PROMETHEUS_URL#http://}" > "$root/prometheus.log" 2>&1 &
    echo $! > "$root/prometheus.pid"
fi
wait_for "$INFLUX_URL/ping" influxd
wait_for "$PROMETHEUS_URL/-/ready" prometheus
# Something else may own the port and answer in our server's place: make sure ours lives.
for name in influxd prometheus; do
    running "$name" || { echo "$name exited (port taken? set DEMO_INFLUX_PORT /" \
        "DEMO_PROMETHEUS_PORT); its log:" >&2; tail -n 5 "$root/$name.log" >&2; exit 1; }
done
# Prometheus has no samples until its first scrape, a few seconds after it starts.
for _ in $(seq 1 200); do
    curl -fsS "$PROMETHEUS_URL/api/v1/query?query=up" | grep -q '"value"' && break
    sleep 0.1
done

pusher=.venv/bin/pusher
if [ -f examples/demo_data.py ]; then
    .venv/bin/python examples/demo_data.py "$root/website.sqlite" --days 3
fi
curl -fsS -o /dev/null -XPOST "$INFLUX_URL/query" --data-urlencode 'q=CREATE DATABASE "pusher"'
if $pusher --help | grep -q '^  setup '; then
    $pusher setup
fi
echo "==> pusher collect --all (the previous and the current window of every source)" >&2
status=0
$pusher collect --all || status=$?
.venv/bin/python examples/show_landed.py "$INFLUX_URL" pusher
echo
echo "Servers keep running: InfluxDB $INFLUX_URL, Prometheus $PROMETHEUS_URL."
echo "Try: $pusher collect --all --since 3d   (backfill the demo's three days)"
echo "Stop them with: bash scripts/demo.sh stop"
exit "$status"
