#!/usr/bin/env bash
# Build flowpi, run it on this machine on its built-in defaults (web page on port 3000, NetFlow on
# UDP 2055; only the archive directory is moved into target/demo so nothing is written system-wide),
# and feed it the sample capture from tests/data every few seconds so there is something to see.
# Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked
bin=target/release/flowpi
demo=target/demo
mkdir -p "$demo"
cat > "$demo/flowpi.toml" <<TOML
# Everything not set here is flowpi's built-in default (see etc/flowpi.toml).
[archive]
dir = "$PWD/$demo/archive"
TOML

"$bin" --config "$demo/flowpi.toml" &
flowpi_pid=$!
feeder_pid=""
cleanup() {
  [ -n "$feeder_pid" ] && kill "$feeder_pid" 2>/dev/null || true
  kill -TERM "$flowpi_pid" 2>/dev/null || true
  wait "$flowpi_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Up once it answers at all: the API wants the password (401) like everything but the login page.
for _ in $(seq 100); do
  curl -s -o /dev/null http://127.0.0.1:3000/login 2>/dev/null && break
  kill -0 "$flowpi_pid" 2>/dev/null || { echo "demo: flowpi did not start" >&2; exit 1; }
  sleep 0.1
done

# The sample is softflowd's NetFlow v5 export of known traffic between three local hosts and two
# remote ones; replaying it at irregular intervals draws uneven graphs.
(
  while true; do
    "$bin" replay tests/data/softflowd_v5_synth.pcap --to 127.0.0.1:2055 --repeat $((1 + RANDOM % 20)) >/dev/null
    sleep $((1 + RANDOM % 5))
  done
) &
feeder_pid=$!

cat <<MSG

  flowpi is running: open http://localhost:3000/ in a browser and log in with the password
  $(cat "$demo/archive/initial-password" 2>/dev/null || echo "you set (flowpi set-password --config $demo/flowpi.toml)")
  (made at the first start, kept in $demo/archive/initial-password).
  The host and interface totals appear at once; the graphs fill in step by step (one point a
  minute, the default archive.step). Archives are in $demo/archive. Ctrl-C stops it.

MSG
wait "$flowpi_pid"
