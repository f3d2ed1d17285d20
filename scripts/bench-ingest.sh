#!/usr/bin/env bash
# Ingest benchmark: the same fast sender (benches/tools/blast.rs: prebuilt datagrams of 30 records,
# sendmmsg) sends NetFlow v5, v9 and IPFIX to flowpi and to nfcapd (Debian's nfdump) on 127.0.0.1.
# The traffic (benches/tools/traffic.rs) is a home network's: 200 local hosts in 192.168.0.0/16
# and 16384 remote addresses, both directions, HTTPS over TCP and QUIC, HTTP, DNS, SSH, BitTorrent,
# NTP and high ports, across 3 LAN interfaces and a WAN one. Three phases:
#
# 1. Ladder (LADDER=0 skips it): for each collector and version, climb a ladder of record rates
#    until a step loses records (counted != sent), then halve the gap between the last clean step
#    and the first lossy one BISECT times. Each step prints records sent and counted per second
#    (over the time the sender really took), CPU time per record and background CPU; the summary
#    gives each collector's highest rate counted with no loss and the ratio flowpi/nfcapd.
# 2. CPU per record (CPU=0 skips it): both collectors take the same fixed rate, CPU_RATE records/s
#    (default 1000000) for CPU_SECS (default 10), one after the other; each one's CPU time
#    (utime + stime, /proc/PID/stat fields 14 and 15) over the run is divided by the records it
#    counted. The window opens as the sender starts and closes, for flowpi, when it has counted
#    the last record, for nfcapd, when it has exited (it finishes its file on exit, so that write
#    is in); it avoids minute boundaries, where per-step rather than per-record work happens.
#    The run is checked for loss on both sides; a lossy run is flagged, since its figure
#    is not comparable. The summary compares nfcapd/flowpi with the targets: 1.4x for v5, 4x for
#    v9 and IPFIX (printed as PASS/FAIL; the script does not fail on them). CPU_DISTINCT=1 sends
#    the flood traffic of phase 3 instead.
# 3. RSS under a flood (FLOOD_SECS=0 skips it): a fresh flowpi gets FLOOD_RATE records/s (default
#    1000000) of FLOOD_VERSION (default 5) for FLOOD_SECS (default 20) in which every record has a
#    new remote address (all of 32.0.0.0/12, 1,048,576, before one repeats) and the local hosts
#    cycle over 4096 addresses; prints VmRSS/VmHWM before and after, the host and peer counters
#    of /metrics, and whether the peak stays within 24 MiB.
#
# flowpi runs on its defaults (every view at its default bounds) except for addresses, archive
# directory and auth; FLOWPI_TOML, if set, is appended to its configuration. Only its command
# line, /metrics (flowpi_records_total) and /proc are relied on.
# Beside every figure: the load average before and after, and "bg", the CPU (in cores) that
# processes other than the collector and the sender used meanwhile, from /proc/stat; softirq time
# (the loopback's delivery of datagrams, charged to no process) is left out of it and shown apart.
# A figure with bg well above 0 comes from a busy machine: measure again on a quiet one.
#
# Usage: scripts/bench-ingest.sh [SECONDS_PER_STEP] [RATES...]   (ladder; records/s)
#   VERSIONS="5 9 10" and BISECT=3 choose versions and refinement; LADDER, CPU, CPU_RATE,
#   CPU_SECS, CPU_DISTINCT, FLOOD_SECS, FLOOD_RATE, FLOOD_VERSION as above.
#   e.g. LADDER=0 CPU_SECS=3 FLOOD_SECS=5 scripts/bench-ingest.sh   (binaries under
#   $CARGO_TARGET_DIR when set)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000000 2000000 3000000 4000000 6000000 8000000 10000000 12000000 14000000 16000000 18000000 20000000 24000000)
read -r -a versions <<<"${VERSIONS:-5 9 10}"
bisect=${BISECT:-3}
ladder=${LADDER:-1}
cpu_phase=${CPU:-1}
cpu_rate=${CPU_RATE:-1000000}
cpu_secs=${CPU_SECS:-10}
cpu_mode=""
[ "${CPU_DISTINCT:-0}" != 1 ] || cpu_mode=--distinct
flood_secs=${FLOOD_SECS:-20}
flood_rate=${FLOOD_RATE:-1000000}
flood_version=${FLOOD_VERSION:-5}
rss_limit_kib=$((24 * 1024))

# Before the build below adds its own load.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/setup.sh nfdump
cargo build --release --locked --bin flowpi --example blast
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/flowpi
blast=$target/release/examples/blast
tmp=$(mktemp -d)
fpid=""
cleanup() {
  if [ -n "$fpid" ]; then kill "$fpid" 2>/dev/null || true; wait "$fpid" 2>/dev/null || true; fi
  # nfcapd is started in a subshell, so its pid is in a file while it runs.
  if [ -s "$tmp/nfcapd.cpu.pid" ]; then kill "$(cat "$tmp/nfcapd.cpu.pid")" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

buf=33554432
# Both collectors ask for the same 32 MiB socket buffer; let the kernel grant it.
if [ "$(id -u)" -eq 0 ] && [ "$(sysctl -n net.core.rmem_max)" -lt $buf ]; then
  sysctl -q -w net.core.rmem_max=$buf
fi

hz=$(getconf CLK_TCK)
cores=$(nproc)
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# CPU time (user + system) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The machine's CPU time over all cores since boot, in ticks: total (idle included), busy (idle
# and iowait left out) and softirq (with irq). guest time is already inside user.
machine() { awk '$1 == "cpu" {print $2+$3+$4+$5+$6+$7+$8+$9, $2+$3+$4+$7+$8+$9, $7+$8}' /proc/stat; }
# Bytes waiting in the receive queue of the UDP socket bound to 127.0.0.1:PORT.
rx_queue() {
  local q
  q=$(awk -v p="$(printf ':%04X' "$1")" '$2 ~ p"$" {split($5, q, ":"); print q[2]; exit}' /proc/net/udp)
  echo $((16#${q:-0}))
}
# Until the collector has read everything sent to PORT (at most 30 s).
drain() {
  for _ in $(seq 300); do
    [ "$(rx_queue "$1")" -eq 0 ] && return
    sleep 0.1
  done
}

# A run's figures, one line: sent counted seconds sender_cpu_s collector_cpu_s bg_cores
# softirq_cores load_before load_after, every CPU figure over the same interval.
# background CPU = machine busy - softirq - collector - sender, in cores over the interval.
figures() { # sent counted seconds sender_cpu collector_cpu machine_before machine_after load_before
  awk -v s="$1" -v c="$2" -v e="$3" -v bc="$4" -v cc="$5" -v hz="$hz" -v lb="$9" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
    -v t0="$6" -v b0="$7" -v q0="$8" -v t1="${10}" -v b1="${11}" -v q1="${12}" -v n="$cores" 'BEGIN {
      wall = (t1 - t0) / n;   # ticks of one core over the interval
      bg = ((b1 - b0) - (q1 - q0)) / hz - bc - cc;
      printf "%d %d %.3f %.3f %.3f %.2f %.2f %s %s\n", s, c, e, bc, cc, (bg < 0 ? 0 : bg) / (wall / hz),
        (q1 - q0) / wall, lb, la }'
}

# ---- flowpi ----
start_flowpi() {
  fport=$(port)
  hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rm -rf "$tmp/archive"
  cat >"$tmp/flowpi.toml" <<TOML
[collector]
listen = ["127.0.0.1:$fport"]
receive_buffer = $buf
[archive]
dir = "$tmp/archive"
[http]
listen = "127.0.0.1:$hport"
# Loopback only, and the bench reads /metrics with curl.
auth = "none"
[log]
level = "warn"
${FLOWPI_TOML:-}
TOML
  "$bin" --config "$tmp/flowpi.toml" &
  fpid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$hport/metrics" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "flowpi did not start" >&2
  exit 1
}
stop_flowpi() {
  kill "$fpid"
  wait "$fpid" 2>/dev/null || true
  fpid=""
}
records() { curl -fs "http://127.0.0.1:$hport/metrics" | awk '$1 == "flowpi_records_total" {print $2}'; }

flowpi_run() { # version rate seconds [--distinct] -> figures
  local before after prev out cpu0 m0 m1 lb
  before=$(records)
  lb=$(cut -d' ' -f1 /proc/loadavg)
  m0=$(machine)
  cpu0=$(ticks "$fpid")
  out=$("$blast" "127.0.0.1:$fport" "$@")
  # From the first datagram until flowpi has counted the last one: the socket is empty and the
  # counter has stopped (at a lossless rate this is a few ms past the sender's end).
  drain "$fport"
  read -r _ _ sent _ <<<"$out"
  after=$(records)
  prev=-1
  while [ "$after" != "$prev" ] && [ $((after - before)) -lt "$sent" ]; do
    sleep 0.1
    prev=$after
    after=$(records)
  done
  local cpu1
  cpu1=$(ticks "$fpid")
  m1=$(machine)
  read -r _ _ _ el scpu _ <<<"$out"
  # shellcheck disable=SC2086 # m0/m1 are three numbers each
  figures "$sent" $((after - before)) "$el" "$scpu" "$(awk -v t=$((cpu1 - cpu0)) -v hz="$hz" 'BEGIN {print t / hz}')" $m0 "$lb" $m1
}

# ---- nfcapd ----
# nfcapd runs under a small wrapper that, when nfcapd has exited, writes the CPU time it used
# (getrusage of children, threads included): nfcapd writes its file as blocks fill and finishes
# it on exit, so its CPU is measured from the first datagram until it has exited, including that
# last write. A fresh instance per run; the flows it stored are counted by nfdump afterwards.
wrap='import resource, signal, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
open(sys.argv[1] + ".pid", "w").write(str(p.pid))
signal.signal(signal.SIGTERM, lambda *_: p.terminate())
p.wait()
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.6f" % (r.ru_utime + r.ru_stime))'

nfcapd_run() { # version rate seconds [--distinct] -> figures
  local d="$tmp/nfcapd" p wpid out cpu0 m0 m1 lb total got
  rm -rf "$d" "$tmp/nfcapd.cpu" "$tmp/nfcapd.cpu.pid"
  mkdir -p "$d"
  p=$(port)
  python3 -c "$wrap" "$tmp/nfcapd.cpu" nfcapd -w "$d" -b 127.0.0.1 -p "$p" -B $buf -t 3600 >/dev/null 2>&1 &
  wpid=$!
  for _ in $(seq 100); do
    [ -s "$tmp/nfcapd.cpu.pid" ] && awk -v p="$(printf ':%04X' "$p")" '$2 ~ p"$" {f = 1} END {exit !f}' /proc/net/udp && break
    sleep 0.1
  done
  local npid
  npid=$(cat "$tmp/nfcapd.cpu.pid")
  sleep 0.2
  lb=$(cut -d' ' -f1 /proc/loadavg)
  m0=$(machine)
  cpu0=$(ticks "$npid")
  out=$("$blast" "127.0.0.1:$p" "$@")
  drain "$p"
  kill -TERM "$wpid"
  wait "$wpid" 2>/dev/null || true
  m1=$(machine)
  rm -f "$tmp/nfcapd.cpu.pid"
  total=$(cat "$tmp/nfcapd.cpu")
  got=$(nfdump -R "$d" -I 2>/dev/null | awk '$1 == "Flows:" {n += $2} END {print n + 0}')
  read -r _ _ sent el scpu _ <<<"$out"
  # shellcheck disable=SC2086 # m0/m1 are three numbers each
  figures "$sent" "$got" "$el" "$scpu" "$(awk -v t="$total" -v c="$cpu0" -v hz="$hz" 'BEGIN {print t - c / hz}')" $m0 "$lb" $m1
}

ns() { awk -v c="$1" -v n="$2" 'BEGIN {printf "%.0f", (n > 0 ? c * 1e9 / n : 0)}'; }
per_s() { awk -v n="$1" -v e="$2" 'BEGIN {printf "%.0f", (e > 0 ? n / e : 0)}'; }

start_flowpi

# ---- phase 1: ladder ----
if [ "$ladder" != 0 ]; then
  echo "== ladder: ${secs}s per step, $cores cores"
  printf '%-7s %-7s %10s %12s %12s %10s %10s %8s %8s %5s %5s\n' version who asked sent counted 'sent/s' 'counted/s' \
    'ns/rec' 'RSS(kB)' bg load
  declare -A best capped
  step() { # who version rate -> 0 when no record was lost
    local sent got el scpu ccpu bg sirq lb la rss=""
    read -r sent got el scpu ccpu bg sirq lb la < <("${1}_run" "$2" "$3" "$secs")
    [ "$1" = flowpi ] && rss=$(awk '/VmRSS/ {print $2}' "/proc/$fpid/status")
    last_rate=$(per_s "$got" "$el")
    printf '%-7s %-7s %10s %12s %12s %10s %10s %8s %8s %5s %5s\n' "v$2" "$1" "$3" "$sent" "$got" "$(per_s "$sent" "$el")" \
      "$last_rate" "$(ns "$ccpu" "$got")" "$rss" "$bg" "$la"
    [ "$sent" = "$got" ]
  }
  for v in "${versions[@]}"; do
    for who in flowpi nfcapd; do
      lo=0
      hi=0
      got=0 # records/s counted at the best clean step
      for r in "${rates[@]}"; do
        if step "$who" "$v" "$r"; then
          lo=$r
          got=$((last_rate > got ? last_rate : got))
        else
          hi=$r
          break
        fi
      done
      # Between the last clean step and the first lossy one: halve the gap a few times.
      for _ in $(seq "$bisect"); do
        [ "$hi" -gt 0 ] || break
        mid=$(((lo + hi) / 2))
        if step "$who" "$v" "$mid"; then
          lo=$mid
          got=$((last_rate > got ? last_rate : got))
        else hi=$mid; fi
      done
      best[$v$who]=$got
      # A collector that never lost a record was limited by the sender, not by itself.
      capped[$v$who]=""
      [ "$hi" -ne 0 ] || capped[$v$who]=" (no loss at any step: the sender's limit)"
    done
  done

  echo
  echo "highest rate counted with no loss (records/s achieved, ${secs}s per step, 30 records per datagram):"
  for v in "${versions[@]}"; do
    f=${best[${v}flowpi]}
    n=${best[${v}nfcapd]}
    ratio=$(python3 -c "print('%.1f' % ($f / $n) if $n else 'n/a')")
    printf '  v%-3s flowpi %9s%s\n        nfcapd %9s%s\n        ratio %s\n' "$v" "$f" "${capped[${v}flowpi]}" "$n" \
      "${capped[${v}nfcapd]}" "$ratio"
  done
  echo "flowpi peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/$fpid/status")"
  echo
fi

# ---- phase 2: CPU per record at a fixed rate ----
# The archive is updated once per step (60 s by default), not per record: a run that would come
# within 5 s of a minute boundary waits until 5 s past it, so per-step work lands outside the
# window for flowpi and nfcapd alike and repeated runs compare.
outside_step() {
  local r
  r=$(($(date +%s) % 60))
  if [ "$cpu_secs" -lt 45 ]; then
    if [ $r -lt 5 ]; then
      sleep $((5 - r))
    elif [ $((r + cpu_secs + 5)) -ge 60 ]; then
      sleep $((65 - r))
    fi
  fi
}
if [ "$cpu_phase" != 0 ]; then
  echo "== CPU per record: $cpu_rate records/s asked for ${cpu_secs}s${cpu_mode:+ ($cpu_mode)}, $cores cores;" \
    "bg = CPU of other processes, in cores"
  printf '%-7s %-7s %12s %12s %10s %10s %9s %8s %8s %5s %5s %s\n' version who sent counted 'sent/s' 'counted/s' \
    'cpu(s)' 'ns/rec' 'sender' bg sirq 'load'
  declare -A row
  for v in "${versions[@]}"; do
    for who in flowpi nfcapd; do
      outside_step
      # shellcheck disable=SC2086 # cpu_mode is empty or one flag
      read -r sent got el scpu ccpu bg sirq lb la < <("${who}_run" "$v" "$cpu_rate" "$cpu_secs" $cpu_mode)
      row[$v$who]="$sent $got $el $ccpu $bg"
      printf '%-7s %-7s %12s %12s %10s %10s %9s %8s %8s %5s %5s %s\n' "v$v" "$who" "$sent" "$got" "$(per_s "$sent" "$el")" \
        "$(per_s "$got" "$el")" "$ccpu" "$(ns "$ccpu" "$got")" "$(ns "$scpu" "$sent")ns" "$bg" "$sirq" "$lb->$la"
      [ "$sent" = "$got" ] || echo "        LOSS: $who counted $got of $sent records; its figure is not comparable"
    done
  done
  echo
fi

# ---- phase 3: RSS under a flood of distinct addresses ----
if [ "$flood_secs" != 0 ]; then
  stop_flowpi
  start_flowpi
  echo "== RSS under a flood: v$flood_version, $flood_rate records/s asked for ${flood_secs}s, a new remote address" \
    "per record (32.0.0.0/12), 4096 local hosts, $cores cores"
  mem() { awk '/^(VmHWM|VmRSS|RssAnon|RssFile):/ {printf "%s %s kB  ", $1, $2}' "/proc/$fpid/status"; }
  echo "before: $(mem)"
  read -r sent got el scpu ccpu bg sirq lb la < <(flowpi_run "$flood_version" "$flood_rate" "$flood_secs" --distinct)
  echo "after:  $(mem)"
  echo "sent $sent ($(per_s "$sent" "$el")/s, sender $(ns "$scpu" "$sent") ns/record), counted $got" \
    "($(per_s "$got" "$el")/s), distinct remotes $((sent < 1048576 ? sent : 1048576)), flowpi $(ns "$ccpu" "$got") ns/record," \
    "bg $bg cores, sirq $sirq, load $lb->$la"
  [ "$sent" = "$got" ] || echo "LOSS: flowpi counted $got of $sent records"
  echo "host and peer counters (/metrics):"
  curl -fs "http://127.0.0.1:$hport/metrics" | grep -E '^flowpi_[a-z_]*(host|peer|remote|interface|overflow|view|evict)[a-z_]*[ {]' |
    sed 's/^/  /' || echo "  (none)"
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$fpid/status")
  flood_result="peak RSS (VmHWM) $((hwm / 1024)) MiB ($hwm kB) under the flood: $([ "$hwm" -le $rss_limit_kib ] && echo PASS || echo FAIL) (<= 24 MiB)"
  echo "$flood_result"
  echo
fi

if [ "$cpu_phase" != 0 ]; then
  echo "== summary: CPU per record at $cpu_rate records/s asked, ${cpu_secs}s each, same traffic to both"
  printf '%-7s %10s %12s %12s %10s %10s %7s %7s %s\n' version 'sent/s' 'flowpi c/s' 'nfcapd c/s' 'flowpi ns' 'nfcapd ns' ratio \
    target result
  for v in "${versions[@]}"; do
    read -r fs fg fe fc fb <<<"${row[${v}flowpi]}"
    read -r ns_ ng ne nc nb <<<"${row[${v}nfcapd]}"
    fn=$(ns "$fc" "$fg")
    nn=$(ns "$nc" "$ng")
    want=$([ "$v" = 5 ] && echo 1.4 || echo 4.0)
    ratio=$(awk -v fc="$fc" -v fg="$fg" -v nc="$nc" -v ng="$ng" \
      'BEGIN {printf "%.1f", (fc > 0 && ng > 0 ? (nc / ng) / (fc / fg) : 0)}')
    result=$(awk -v r="$ratio" -v w="$want" 'BEGIN {print (r >= w ? "PASS" : "FAIL")}')
    note=""
    [ "$fs" = "$fg" ] && [ "$ns_" = "$ng" ] || note="$note (loss: not comparable)"
    note="$note (bg $fb / $nb cores)"
    printf '%-7s %10s %12s %12s %10s %10s %6sx %6sx %s%s\n' "v$v" "$(per_s "$fs" "$fe")" "$(per_s "$fg" "$fe")" \
      "$(per_s "$ng" "$ne")" "$fn" "$nn" "$ratio" "$want" "$result" "$note"
  done
fi
[ -n "${flood_result:-}" ] && echo "$flood_result"
echo "machine: $cores cores; load average (1, 5, 15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(a 1-minute load near 0 before the run and bg near 0 mean a quiet machine; near or above the core count, a loaded one)"
