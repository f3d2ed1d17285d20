#!/usr/bin/env bash
# SD-card write benchmark: bytes the archive puts on the storage DEVICE per day, at the default
# configuration, for a number of local hosts (each with 4 router interfaces besides), and the same
# archives kept through rrdcached (-w 1800 -z 1800) for comparison.
#
# How: for each host count, flowpi's archive.dir is on a fresh ext4 file system (1 GiB image,
# 4 KiB blocks, inode tables and journal initialised at mkfs so no background thread writes) on a
# loop device mounted noatime, as on the Pi's card; rrdcached's files and journal are on a second
# one. The figure is what the file system sent to the device, journal and metadata included:
# sectors written in /sys/block/loopN/stat (field 7, x 512 bytes) over the measured window.
# A simulated day cannot take a day: flowpi, the traffic sender (scripts/bench-writes-traffic.py:
# NetFlow v5, a flow to and from every host every 10 s, over interfaces 1-4 of one exporter) and
# rrdcached with its feeder (scripts/bench-writes-rrdcached.py: one update per file per 60 s step)
# all run under libfaketime ("+0 xSPEEDUP", one clock shared by all of them), so their clocks,
# sleeps and tokio timers run SPEEDUP times faster than real time. The script checks that they do:
# the fake clock must advance SPEEDUP times as fast as the real one and flowpi's step counter
# (flowpi_snapshots_total) must advance by one per simulated 60 s; it stops with an error if not.
# The first WARMUP_MIN simulated minutes (file creation; rrdcached's first write of each file comes
# 30 to 60 min after its first update) are not measured; their bytes are reported on their own.
# All figures are per simulated day: bytes written in the window x 86400 / simulated seconds that
# actually passed (read from the fake clock, not the ones asked for).
# Caveat: the kernel's writeback (dirty pages written after 30 s, ext4 commits every 5 s) runs in
# real time, so at SPEEDUP x a file rewritten every step would have SPEEDUP times as many rewrites
# merged in the page cache as on the Pi, and look cheaper than it is. To keep the Pi's timing the
# script syncs both file systems (syncfs) every WRITEBACK_SECS simulated seconds (default 30, the
# kernel's dirty_expire); WRITEBACK_SECS=0 leaves it to the kernel. A design that fsyncs what it
# writes is measured faithfully either way. (Checked with flowpi writing every step, 64 hosts: at
# x60 with the syncs 1449 to 1469 MB/day, in real time (x1, the kernel's writeback) 1437, at x60
# without the syncs 92.) Files are written back in 4 KiB pages as on the Pi (see make_fs).
# Timed waits that use an absolute CLOCK_MONOTONIC deadline (Rust's mpsc recv_timeout,
# Condvar::wait_timeout, thread::park_timeout) never expire under libfaketime, whose monotonic
# clock reads like the wall clock; thread::sleep and tokio's timers are fine. A daemon whose writes
# wait on such a timeout and nothing else shows it here as fewer writes: the check of the step
# counter does not catch that.
# Usage: scripts/bench-writes.sh [HOSTS...]   (default: 16 64 256; needs root for loop mounts)
#   SIM_HOURS=12 (simulated hours measured), SPEEDUP=60, WARMUP_MIN=60 (simulated minutes),
#   WRITEBACK_SECS=30, SKIP_RRDCACHED=1 to measure flowpi alone, FOLIOS=1 (see make_fs). The
#   1 GiB file systems hold up to some 1500 files.
# A default run takes about 3 x (12 h / 60 + 1 min + a few seconds), some 40 minutes.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
hosts_list=("$@")
[ ${#hosts_list[@]} -gt 0 ] || hosts_list=(16 64 256)
sim_hours=${SIM_HOURS:-12}
speed=${SPEEDUP:-60}
warmup_min=${WARMUP_MIN:-60}
writeback=${WRITEBACK_SECS:-30}
skip_rrdcached=${SKIP_RRDCACHED:-0}
folios=${FOLIOS:-0}
step=60 # archive.step's default; the rrdcached feeder uses the same
send_every=10

if [ "$(id -u)" -ne 0 ]; then
  echo "bench-writes: needs root (it makes and mounts loop devices)" >&2
  exit 1
fi
calc() { python3 -c "print($1)"; }
cores=$(nproc)
# Before the build below adds its own load.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/setup.sh faketime rrdcached e2fsprogs
cargo build --release --locked --bin flowpi
bin=target/release/flowpi

tmp=$(mktemp -d)
mounts=()
loops=()
pids=()   # processes of the current run, in the order they are stopped
wrapper=""
syncer=""

stop_run() {
  local p
  if [ -n "$syncer" ]; then kill "$syncer" 2>/dev/null || true; wait "$syncer" 2>/dev/null || true; syncer=""; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # The faketime wrapper exits when its children have; it then removes its shared clock.
  if [ -n "$wrapper" ]; then
    for _ in $(seq 100); do kill -0 "$wrapper" 2>/dev/null || break; sleep 0.1; done
    kill "$wrapper" 2>/dev/null || true
    wait "$wrapper" 2>/dev/null || true
    wrapper=""
  fi
  pids=()
  for p in "${mounts[@]}"; do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
  for p in "${loops[@]}"; do losetup -d "$p" 2>/dev/null || true; done
  mounts=()
  loops=()
}
cleanup() {
  stop_run
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "bench-writes: stopped by a failed command at line $LINENO" >&2' ERR

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# A fresh ext4 on a loop device, mounted noatime at $1; sets made to the device's name (loopN).
# Since Linux 6.16 ext4 caches regular files in large folios and writes a whole folio back (tens
# of KiB) for one changed byte in it; the Pi's kernels (6.6, 6.12) write single 4 KiB pages. The
# verity or encrypt feature (neither is used by any file here) turns large folios off, so this
# kernel writes what the Pi's does. FOLIOS=1 keeps them. (A Pi 5's own kernel has 16 KiB pages:
# scattered small writes cost it up to 4 times as much.)
make_fs() {
  local img="$1.img" dev opt feat
  truncate -s 1G "$img"
  dev=$(losetup -f --show "$img")
  loops+=("$dev")
  mkdir -p "$1"
  for opt in verity encrypt none; do
    [ "$folios" != 1 ] || opt=none
    feat=()
    [ "$opt" = none ] || feat=(-O "$opt")
    mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "${feat[@]}" "$dev"
    mount -o noatime "$dev" "$1" 2>/dev/null && break
    [ "$opt" != none ] || fail "cannot mount a new ext4 on $dev"
  done
  mounts+=("$1")
  made=$(basename "$dev")
  fs_opt=$opt
}
sectors() { awk '{print $7}' "/sys/block/$1/stat"; }

metric() { curl -fs "http://127.0.0.1:$hport/metrics" | awk -v m="flowpi_$1" '$1 == m {print $2}'; }
# The shared fake clock, read by a process that joins it.
fake_now() {
  local env=()
  mapfile -t env <"$dir/fakeenv"
  env "${env[@]}" date +%s.%N
}
# Steps the rrdcached feeder has sent (empty when it has not started or is not run).
feeder_steps() { awk '$1 == "step" {n = $2} END {print n}' "$dir/feeder.log" 2>/dev/null || true; }
wait_for() { # file seconds: wait (real time) until the file is not empty
  for _ in $(seq $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "bench-writes: $1 did not appear within $2 s" >&2
  return 1
}
fail() {
  echo "bench-writes: FAILED: $*" >&2
  exit 1
}

declare -A row_files row_flowpi row_rrdcached row_rss row_state
details=()

run_one() {
  local n=$1 files=$(($1 + 4)) fs rs=""
  dir="$tmp/$n"
  mkdir -p "$dir"
  local l0
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  make_fs "$dir/flowpi"
  fs=$made
  if [ "$skip_rrdcached" != 1 ]; then
    make_fs "$dir/rrdcached"
    rs=$made
  fi
  local fs_start=0 rs_start=0
  fs_start=$(sectors "$fs")
  [ -z "$rs" ] || rs_start=$(sectors "$rs")

  fport=$(port)
  hport=$(tcp_port)
  cat >"$dir/flowpi.toml" <<TOML
[collector]
listen = ["127.0.0.1:$fport"]
[network]
local = ["192.168.0.0/16"]
[archive]
dir = "$dir/flowpi/archive"
max_hosts = $((n > 256 ? n : 256))
[http]
listen = "127.0.0.1:$hport"
# Loopback only, and the bench reads /metrics with curl.
auth = "none"
[log]
level = "warn"
TOML
  # Everything that keeps time runs inside one faketime wrapper, so all share one fake clock.
  # Arguments: run directory, flowpi, its port, hosts, send interval, step, rrdcached or not.
  cat >"$dir/run.sh" <<'RUN'
env | grep -E "^(LD_PRELOAD|FAKETIME)" >"$1/fakeenv"
"$2" --config "$1/flowpi.toml" 2>"$1/flowpi.log" & echo $! >"$1/flowpi.pid"
python3 scripts/bench-writes-traffic.py "127.0.0.1:$3" "$4" "$5" 2>"$1/traffic.log" & echo $! >"$1/traffic.pid"
if [ "$7" = rrdcached ]; then
  mkdir -p "$1/rrdcached/rrd" "$1/rrdcached/journal"
  rrdcached -g -w 1800 -z 1800 -j "$1/rrdcached/journal" -b "$1/rrdcached/rrd" -B -l "unix:$1/rrdcached.sock" \
    -p "$1/rrdcached.pidfile" >"$1/rrdcached.log" 2>&1 & echo $! >"$1/rrdcached.pid"
  python3 scripts/bench-writes-rrdcached.py "$1/rrdcached.sock" "$1/rrdcached/rrd" "$4" "$6" "$1/flowpi/archive" \
    >"$1/feeder.log" 2>&1 &
  echo $! >"$1/feeder.pid"
fi
wait
RUN
  faketime -m -f "+0 x$speed" bash "$dir/run.sh" "$dir" "$bin" "$fport" "$n" "$send_every" "$step" "${rs:+rrdcached}" &
  wrapper=$!
  local what
  for what in traffic flowpi ${rs:+feeder rrdcached}; do
    wait_for "$dir/$what.pid" 10
    pids+=("$(cat "$dir/$what.pid")")
  done
  wait_for "$dir/fakeenv" 10
  local fpid
  fpid=$(cat "$dir/flowpi.pid")
  for _ in $(seq 100); do [ -n "$(metric snapshots_total || true)" ] && break; sleep 0.1; done
  [ -n "$(metric snapshots_total || true)" ] || fail "flowpi does not answer on 127.0.0.1:$hport (see $dir/flowpi.log): $(cat "$dir/flowpi.log")"
  local r0 t0
  r0=$(date +%s.%N)
  t0=$(fake_now)
  # The Pi's writeback timing in simulated time (see the header), from the start.
  if [ "$writeback" != 0 ]; then
    local period
    period=$(calc "$writeback / $speed")
    (
      trap - EXIT ERR
      while :; do
        sync -f "$dir/flowpi"
        [ -z "$rs" ] || sync -f "$dir/rrdcached"
        sleep "$period"
      done
    ) &
    syncer=$!
  fi

  # Warm-up: files are created; rrdcached writes each file the first time.
  echo "== $n hosts ($files files): warm-up, $warmup_min simulated minutes"
  sleep "$(calc "$warmup_min * 60 / $speed")"
  [ -z "$rs" ] || grep -q created "$dir/feeder.log" || fail "the rrdcached feeder has not created its files: $(cat "$dir/feeder.log")"
  local snaps rw tw
  snaps=$(metric snapshots_total)
  rw=$(calc "$(date +%s.%N) - $r0")
  tw=$(calc "$(fake_now) - $t0")
  echo "   warm-up: ${rw%.*} s real, $(calc "round($tw)") s simulated, $snaps steps, $(metric archive_creates_total) files created"
  if [ "$(calc "int($tw < 0.8 * $speed * $rw or $snaps < 0.8 * $tw / $step - 1)")" = 1 ]; then
    fail "fake time is not driving flowpi: in ${rw} s real the fake clock advanced $tw s (expected $(calc "$speed * $rw")) and flowpi took $snaps steps (expected $(calc "int($tw / $step)"))"
  fi
  if [ "$(metric hosts)" != "$n" ] || [ "$(metric interfaces)" != 4 ]; then
    fail "the traffic did not reach flowpi as meant: $(metric hosts) hosts and $(metric interfaces) interfaces of $n and 4"
  fi

  # The window.
  sync -f "$dir/flowpi"
  [ -z "$rs" ] || sync -f "$dir/rrdcached"
  local fw0 rw0 r1 t1 s1 u1 c1 f1 fw1 rw1 r2 t2 s2 u2 c2 f2
  fw0=$(sectors "$fs")
  [ -z "$rs" ] || rw0=$(sectors "$rs")
  s1=$(metric snapshots_total)
  u1=$(metric archive_updates_total)
  c1=$(metric records_total)
  f1=$(feeder_steps)
  r1=$(date +%s.%N)
  t1=$(fake_now)
  local window_real
  window_real=$(calc "$sim_hours * 3600 / $speed")
  echo "   measuring $sim_hours simulated hours (${window_real%.*} s real)"
  local left
  while :; do
    left=$(calc "max(0, $r1 + $window_real - $(date +%s.%N))")
    [ "$(calc "int($left > 0)")" = 1 ] || break
    sleep "$(calc "min(60, $left)")"
    kill -0 "$fpid" 2>/dev/null || fail "flowpi exited: $(tail -5 "$dir/flowpi.log")"
    printf '   %5.1f simulated h: flowpi %s MB%s\n' "$(calc "($(fake_now) - $t1) / 3600")" \
      "$(calc "round(($(sectors "$fs") - $fw0) * 512 / 1e6, 2)")" \
      "${rs:+, rrdcached $(calc "round(($(sectors "$rs") - $rw0) * 512 / 1e6, 2)") MB}"
  done
  if [ -n "$syncer" ]; then kill "$syncer"; wait "$syncer" 2>/dev/null || true; syncer=""; fi
  sync -f "$dir/flowpi"
  [ -z "$rs" ] || sync -f "$dir/rrdcached"
  r2=$(date +%s.%N)
  t2=$(fake_now)
  s2=$(metric snapshots_total)
  u2=$(metric archive_updates_total)
  c2=$(metric records_total)
  f2=$(feeder_steps)
  fw1=$(sectors "$fs")
  [ -z "$rs" ] || rw1=$(sectors "$rs")
  local rss nfiles l1
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$fpid/status")
  nfiles=$(find "$dir/flowpi/archive" -name '*.rrd' | wc -l)
  l1=$(cut -d' ' -f1-3 /proc/loadavg)
  # rrdcached's files must have the layout of flowpi's (the feeder copies it from flowpi's files).
  if [ -n "$rs" ]; then
    local layout='^(step|ds\[[a-z_]*\]\.(type|minimal_heartbeat|min|max)|rra\[[0-9]*\]\.(cf|rows|pdp_per_row|xff)) '
    # A copy, so that rrdtool holds no lock on a file flowpi is about to update.
    cp "$dir/flowpi/archive/hosts/192.168.1.1.rrd" "$dir/layout.rrd"
    if ! diff <(rrdtool info "$dir/layout.rrd" | grep -E "$layout") \
      <(rrdtool info "$dir/rrdcached/rrd/hosts/192.168.1.1.rrd" | grep -E "$layout") >"$dir/layout.diff"; then
      echo "   WARNING: rrdcached's files differ in layout from flowpi's ($(grep -m1 "^no " "$dir/feeder.log" || echo "see bench-writes-rrdcached.py")):"
      sed 's/^/     /' "$dir/layout.diff"
    fi
  fi

  local real sim steps expected
  real=$(calc "$r2 - $r1")
  sim=$(calc "$t2 - $t1")
  steps=$((s2 - s1))
  expected=$(calc "int($sim / $step)")
  echo "   window: $(calc "round($real)") s real, $(calc "round($sim)") s simulated (x$(calc "round($sim / $real, 1)")), flowpi steps $steps of $expected expected, $((u2 - u1)) archive updates, $((c2 - c1)) records counted of about $(calc "int($sim / $send_every) * 2 * $n") sent"
  if [ "$(calc "int($sim < 0.9 * $speed * $real or $steps < 0.9 * $expected - 1)")" = 1 ]; then
    fail "fake time did not drive flowpi: $steps steps in $sim simulated s ($expected expected), the fake clock ran x$(calc "round($sim / $real, 1)") (asked x$speed)"
  fi
  local fbytes rbytes fday rday=""
  fbytes=$(((fw1 - fw0) * 512))
  fday=$(calc "round($fbytes * 86400 / $sim / 1e6, 1)")
  if [ -n "$rs" ]; then
    rbytes=$(((rw1 - rw0) * 512))
    rday=$(calc "round($rbytes * 86400 / $sim / 1e6, 1)")
    [ -n "$f1" ] || fail "the rrdcached feeder did not run: $(tail -5 "$dir/feeder.log")"
    grep -q "errors [1-9-]" "$dir/feeder.log" && echo "   WARNING: rrdcached refused updates: $(grep -c "errors [1-9-]" "$dir/feeder.log") steps (see the feeder's stderr)"
    if [ "$(calc "int($((f2 - f1)) < 0.9 * $expected - 1)")" = 1 ]; then
      fail "fake time did not drive the rrdcached feeder: $((f2 - f1)) steps of $expected expected"
    fi
  fi
  if [ "$fbytes" -eq 0 ]; then
    echo "   WARNING: flowpi wrote nothing in the window: does it wait on a timer that libfaketime cannot speed up (see the header)?"
  elif [ "$u2" -eq "$u1" ]; then
    echo "   NOTE: flowpi updated no archive file in the window; if it writes each file less often than once in it, a longer SIM_HOURS samples those writes better"
  fi
  local state
  # Loaded when the 1-minute load at the start or the end passes half the cores.
  state=$(calc "'loaded' if max(${l0%% *}, ${l1%% *}) > 0.5 * $cores else 'quiet'")
  state="$state (load $l0 before, $l1 after; $cores cores)"
  echo "   flowpi: $(calc "round($fbytes / 1e6, 2)") MB in the window = $fday MB/day; warm-up $(calc "round(($fw0 - $fs_start) * 512 / 1e6, 1)") MB; $nfiles files; peak RSS $((rss / 1024)) MiB"
  [ -z "$rs" ] || echo "   rrdcached: $(calc "round($rbytes / 1e6, 2)") MB in the window = $rday MB/day; warm-up $(calc "round(($rw0 - $rs_start) * 512 / 1e6, 1)") MB; $((f2 - f1)) steps fed"
  row_files[$n]=$nfiles
  row_flowpi[$n]=$fday
  row_rrdcached[$n]=${rday:-skipped}
  row_rss[$n]="$((rss / 1024)) MiB"
  row_state[$n]=$state
  details+=("$n hosts: $(calc "round($sim)") simulated s in $(calc "round($real)") real s, $steps steps; flowpi $fbytes B, rrdcached ${rbytes:-skipped} B in the window")
  stop_run
}

for n in "${hosts_list[@]}"; do
  run_one "$n"
done

echo
echo "Archive writes to the device per simulated day (1 MB = 10^6 B; ext4, 4 KiB blocks, noatime;"
how="at x$speed"
[ "$skip_rrdcached" = 1 ] || how="$how; rrdcached -w 1800 -z 1800"
echo "${sim_hours} simulated h measured after ${warmup_min} min of warm-up, $how;"
if [ "$fs_opt" = none ]; then
  echo "page cache as this kernel ($(uname -r)) keeps it: large folios on 6.16 and later):"
else
  echo "files written back in 4 KiB pages as on the Pi's kernels: ext4 feature $fs_opt set, which turns large folios off):"
fi
echo
echo "| hosts | files | MB/day flowpi | MB/day rrdcached | flowpi peak RSS | machine state |"
echo "| ---: | ---: | ---: | ---: | ---: | --- |"
for n in "${hosts_list[@]}"; do
  echo "| $n | ${row_files[$n]} | ${row_flowpi[$n]} | ${row_rrdcached[$n]} | ${row_rss[$n]} | ${row_state[$n]} |"
done
echo
printf '%s\n' "${details[@]}"
echo "machine: $cores cores; load average (1, 5, 15 min) before the build: $load_before, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
