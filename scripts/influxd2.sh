#!/usr/bin/env bash
# Builds InfluxDB 2.x OSS (API only, no UI) from its Go module and caches the binary by
# version; prints the binary's path on stdout. A second run finds the cache and takes no time.
#   bash scripts/influxd2.sh            build (or find) influxd v2.7.12, print its path
#   bash scripts/influxd2.sh --check    print the path if cached or on PATH, else exit 1
#   bash scripts/influxd2.sh --can-build  exit 0 if this machine has what a build needs
# Needs Go >= 1.21 and cargo (libflux, Flux's engine, is Rust). The cache folder is
# $PUSHER_INFLUXD_CACHE, else .local/influxd in this checkout (gitignored).
# The source is the published Go module github.com/influxdata/influxdb/v2, never a clone.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${INFLUXD2_VERSION:-v2.7.12}"
cache="${PUSHER_INFLUXD_CACHE:-$PWD/.local/influxd}"
binary="$cache/influxd-$version"

say() { echo "==> influxd $version: $*" >&2; }

if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
if [ "${1:-}" = --check ]; then
    # An influxd 2.x on PATH serves as well as our own build.
    if found=$(command -v influxd) && "$found" version 2>/dev/null | grep -q '^InfluxDB v2\.'; then
        echo "$found"; exit 0
    fi
    exit 1
fi
go_version=$(go env GOVERSION 2>/dev/null || echo none)
go_minor=$(echo "$go_version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[ "${go_minor:-0}" -ge 21 ] || { say "needs Go >= 1.21 to build (found: $go_version)"; exit 1; }
command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] \
    || { say "needs cargo (rustup) to build libflux"; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"
[ "${1:-}" = --can-build ] && exit 0

mkdir -p "$cache"
work="$cache/build-$version"
rm -rf "$work"; mkdir -p "$work"
log="$cache/build-$version.log"; : > "$log"
trap 'status=$?; [ $status -eq 0 ] || { say "build failed, last lines of $log:"; tail -n 30 "$log" >&2; }' EXIT

# A wrapper module pins the server's version; tools.go keeps the import for `go mod tidy`.
say "resolving the Go module (log: $log)"
resolve_start=$SECONDS
(
    cd "$work"
    go mod init local/influxd
    cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "github.com/influxdata/influxdb/v2/cmd/influxd"
EOF
    go get "github.com/influxdata/influxdb/v2@$version"
    # The replace directive the server's own go.mod carries (a fork of nats-streaming).
    go mod edit -replace \
        github.com/nats-io/nats-streaming-server@v0.11.2=github.com/influxdata/nats-streaming-server@v0.11.3-0.20201112040610-c277f7560803
    go mod tidy
) >>"$log" 2>&1

say "module resolved in $((SECONDS - resolve_start)) s" 2>&1 | tee -a "$log" >&2

# influxdata's pkg-config builds libflux with cargo when the Go build asks for flux.pc.
say "installing influxdata/pkg-config"
GOBIN="$work/bin" go install github.com/influxdata/pkg-config@v0.2.14 >>"$log" 2>&1

# libflux denies all warnings and today's rustc warns about more than the pinned 1.72 did;
# RUSTFLAGS does not reach the build-script copy of the crate, a wrapper reaches both.
cat > "$work/rustc-wrapper" <<'EOF'
#!/bin/sh
case " $* " in *" --crate-name "*) exec "$@" --cap-lints warn ;; *) exec "$@" ;; esac
EOF
chmod +x "$work/rustc-wrapper"

say "compiling (about 3 minutes on 2 cores)"
start=$SECONDS
(
    cd "$work"
    RUSTUP_TOOLCHAIN=stable PKG_CONFIG="$work/bin/pkg-config" RUSTC_WRAPPER="$work/rustc-wrapper" \
        go build -tags sqlite_foreign_keys,sqlite_json -ldflags "-X main.version=$version" \
        -o "$binary.partial" \
        github.com/influxdata/influxdb/v2/cmd/influxd
) >>"$log" 2>&1 &
build=$!
while kill -0 "$build" 2>/dev/null; do
    sleep 15
    kill -0 "$build" 2>/dev/null && say "still compiling, $((SECONDS - start)) s"
done
wait "$build"
mv "$binary.partial" "$binary"
rm -rf "$work"
say "built in $((SECONDS - start)) s: $binary" 2>&1 | tee -a "$log" >&2
echo "$binary"
