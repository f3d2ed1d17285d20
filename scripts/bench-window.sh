#!/usr/bin/env bash
# Window query benchmark: how long `GET /api/hosts?from=F&to=T` takes over a full archive, the
# answer read from every host's file (rrd_fetch at the best resolution covering the window).
# Target: a month over 256 hosts answers in 200 ms or less (median, release build).
#
# How: benches/tools/fill.rs writes HOSTS archives (hosts/10.0.X.Y.rrd, made-up traffic of a home
# network) covering DAYS days at STEP seconds, every step written, up to the current step. The
# filled directory is kept under $CARGO_TARGET_DIR/bench-window/ (target/ when unset), one per
# set of parameters, and reused while its data ends at most STALE_SECS before now (one row of
# the month's resolution by default); older data is filled again, never shifted in time. flowpi
# runs on a copy of it (the daemon may write to the files it finds), on loopback with auth off,
# and curl asks for a month (31 days), a week and a day ending now, RUNS times each, in that
# order: each window's first answer is reported alone as "cold" (for the month, the daemon's first
# read of the files since it started; they were just copied, so they are in the page cache either
# way), then median, p90 and max of the others.
# Each answer must be 200; the rows of one answer are counted: with from/to honoured (an object
# with "rows") there must be HOSTS of them, else the script fails. A plain array means the
# endpoint ignored from/to (the hosts counted since start, none here): the timing is then that of
# the old endpoint and rows are not checked.
# Beside the figures: nproc and the load average before the build, before and after the queries
# (uptime); "loaded" when the 1-minute load passes half the cores: measure again on a quiet machine.
# The build and the fill load the machine themselves: the queries wait up to SETTLE_SECS for the
# 1-minute load to fall below half the cores (the wait is printed).
#
# Usage: scripts/bench-window.sh
#   HOSTS=256 DAYS=35 STEP=60 (archives), RUNS=20 (answers per window), TARGET_MS=200,
#   STALE_SECS=3600, SETTLE_SECS=60, REFILL=1 (fill again whatever the cache holds);
#   FLOWPI_TOML, if set, is appended to flowpi's configuration. Exits 1 when a window's median
#   passes TARGET_MS or a windowed answer has the wrong number of rows.
#   e.g. HOSTS=64 RUNS=5 scripts/bench-window.sh
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${HOSTS:-256}
days=${DAYS:-35}
step=${STEP:-60}
runs=${RUNS:-20}
target_ms=${TARGET_MS:-200}
stale=${STALE_SECS:-3600}
refill=${REFILL:-0}
settle=${SETTLE_SECS:-60}
[ "$runs" -ge 2 ] || { echo "bench-window: RUNS must be 2 or more (the first is the cold one)" >&2; exit 2; }
[ "$days" -ge 32 ] || echo "bench-window: note: DAYS=$days does not cover the month window (31 days)"

cores=$(nproc)
# Before the build below adds its own load.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/setup.sh
cargo build --release --locked --bin flowpi --example fill
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/flowpi
fill=$target/release/examples/fill

# ---- the archives: filled once per parameters, while fresh enough ----
cache=$target/bench-window/h$hosts-d$days-s$step
end=""
[ ! -s "$cache/end" ] || end=$(cat "$cache/end")
if [ "$refill" = 1 ] || [ -z "$end" ] || [ $(($(date +%s) - end)) -gt "$stale" ]; then
  echo "== filling $cache: $hosts hosts, $days days at ${step}s${end:+ (the cached data ended $(($(date +%s) - end)) s ago)}"
  rm -rf "$cache" "$cache.new"
  mkdir -p "$cache.new"
  "$fill" "$cache.new" "$hosts" "$days" "$step"
  # The time of the last step written: what decides whether the cache is still fresh.
  rrdtool last "$cache.new/hosts/10.0.0.1.rrd" >"$cache.new/end"
  mv "$cache.new" "$cache"
  end=$(cat "$cache/end")
else
  echo "== reusing $cache: data ends $(($(date +%s) - end)) s ago (STALE_SECS=$stale, REFILL=1 fills again)"
fi

tmp=$(mktemp -d)
fpid=""
cleanup() {
  if [ -n "$fpid" ]; then kill "$fpid" 2>/dev/null || true; wait "$fpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/archive"
cp -r "$cache/hosts" "$tmp/archive/"

# ---- flowpi ----
free_port() { python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.$1); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
uport=$(free_port SOCK_DGRAM)
hport=$(free_port SOCK_STREAM)
cat >"$tmp/flowpi.toml" <<TOML
[collector]
listen = ["127.0.0.1:$uport"]
[network]
local = ["10.0.0.0/16"]
[archive]
dir = "$tmp/archive"
step = "${step}s"
[http]
listen = "127.0.0.1:$hport"
# Loopback only, and the bench asks with curl.
auth = "none"
[log]
level = "warn"
${FLOWPI_TOML:-}
TOML
"$bin" --config "$tmp/flowpi.toml" 2>"$tmp/flowpi.log" &
fpid=$!
base="http://127.0.0.1:$hport"
for _ in $(seq 200); do
  curl -fs -o /dev/null "$base/api/status" && break
  kill -0 "$fpid" 2>/dev/null || break
  sleep 0.1
done
if ! curl -fs -o /dev/null "$base/api/status"; then
  echo "bench-window: flowpi did not start:" >&2
  tail -20 "$tmp/flowpi.log" >&2
  exit 1
fi

# ---- the queries ----
# Median, p90 (nearest rank) and max of the seconds on stdin, in ms, one decimal each.
stats() { python3 -c '
import math, sys
v = sorted(float(x) * 1000 for x in sys.stdin.read().split())
n = len(v)
med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
print("%.1f %.1f %.1f" % (med, v[math.ceil(0.9 * n) - 1], v[-1]))'; }
# "array N -" for a plain list, "window N RESOLUTION" for an answer with rows.
shape() { python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, list):
    print("array", len(d), "-")
else:
    print("window", len(d["rows"]), d.get("resolution", "-"))' "$1"; }

loaded() { awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v c="$cores" 'BEGIN { exit !(l > 0.5 * c) }'; }
waited=0
while loaded && [ "$waited" -lt "$settle" ]; do
  sleep 5
  waited=$((waited + 5))
done
uptime_before=$(uptime)
l0=$(cut -d' ' -f1 /proc/loadavg)
fails=0
results=()
for w in month:31 week:7 day:1; do
  name=${w%%:*}
  span=$((${w##*:} * 86400))
  now=$(date +%s)
  url="$base/api/hosts?from=$((now - span))&to=$now"
  times=()
  for _ in $(seq "$runs"); do
    read -r code secs < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$url")
    if [ "$code" != 200 ]; then
      echo "bench-window: $url answered $code" >&2
      exit 1
    fi
    times+=("$secs")
  done
  curl -fs -o "$tmp/body" "$url"
  read -r kind rows resolution < <(shape "$tmp/body")
  read -r med p90 max < <(printf '%s\n' "${times[@]:1}" | stats)
  verdict=PASS
  if awk -v m="$med" -v t="$target_ms" 'BEGIN { exit !(m > t) }'; then
    verdict=FAIL
    fails=1
  fi
  check=""
  if [ "$kind" = window ]; then
    if [ "$rows" != "$hosts" ]; then
      check=" ROWS WRONG (expected $hosts)"
      fails=1
    fi
  else
    check=" (plain array: from/to ignored, rows not checked)"
  fi
  results+=("$(printf '%-6s %4d h %5s %6s %9.1f %8s %8s %8s  %s%s' "$name" $((span / 3600)) "$resolution" "$rows" \
    "$(awk -v s="${times[0]}" 'BEGIN { print s * 1000 }')" "$med" "$p90" "$max" "$verdict" "$check")")
done
uptime_after=$(uptime)
l1=$(cut -d' ' -f1 /proc/loadavg)

echo
echo "GET /api/hosts?from=&to= over $hosts hosts ($days days at ${step}s), windows ending now; $runs answers each:"
echo "the first (cold) alone, median / p90 / max of the other $((runs - 1)); target: median <= $target_ms ms"
echo
printf '%-6s %6s %5s %6s %9s %8s %8s %8s  %s\n' window span res rows 'cold ms' 'median' 'p90' 'max' 'verdict'
printf '%s\n' "${results[@]}"
echo
state=$(python3 -c "print('loaded' if max($l0, $l1) > 0.5 * $cores else 'quiet')")
echo "machine: $state; $cores cores; load average (1, 5, 15 min) before the build: $load_before"
echo "  before the queries:$uptime_before (after waiting $waited s for it to settle)"
echo "  after the queries: $uptime_after"
echo "$("$bin" --version 2>/dev/null || echo 'flowpi (version unknown)'), peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$fpid/status")"

kill "$fpid"
wait "$fpid" 2>/dev/null || true
fpid=""
exit "$fails"
