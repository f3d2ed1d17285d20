#!/usr/bin/env bash
# Ingest benchmark: the same fast sender (benches/tools/blast.rs: prebuilt datagrams of 30 records,
# sendmmsg) sends NetFlow v5, v9 and IPFIX to flowpi and to nfcapd (Debian's nfdump) on 127.0.0.1.
# For each collector and version it climbs a ladder of record rates until a step loses records
# (records counted != records sent), then halves the gap between the last clean step and the
# first lossy one BISECT times. Every step prints what was achieved: records sent and counted per
# second and each collector's CPU time per record; the summary gives, per collector, the highest
# rate counted with no loss (achieved, not asked), the ratio flowpi/nfcapd, flowpi's peak RSS,
# and the machine's load before and after, so a figure from a busy machine says so.
# Usage: scripts/bench-ingest.sh [SECONDS_PER_STEP] [RATES...]   (records/s)
#   VERSIONS="5 9 10" and BISECT=3 in the environment choose versions and refinement.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000000 2000000 3000000 4000000 6000000 8000000 10000000 12000000 14000000 16000000 18000000 20000000 24000000)
read -r -a versions <<<"${VERSIONS:-5 9 10}"
bisect=${BISECT:-3}

# Before the build below adds its own load.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
scripts/setup.sh nfdump
cargo build --release --locked --bin flowpi --example blast
bin=target/release/flowpi
blast=target/release/examples/blast
tmp=$(mktemp -d)
fpid=""
npid=""
cleanup() {
  if [ -n "$fpid" ]; then kill "$fpid" 2>/dev/null || true; wait "$fpid" 2>/dev/null || true; fi
  [ -n "$npid" ] && kill "$npid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

buf=33554432
# Both collectors ask for the same 32 MiB socket buffer; let the kernel grant it.
if [ "$(id -u)" -eq 0 ] && [ "$(sysctl -n net.core.rmem_max)" -lt $buf ]; then
  sysctl -q -w net.core.rmem_max=$buf
fi

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fport=$(port)
hport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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
TOML
"$bin" --config "$tmp/flowpi.toml" &
fpid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$hport/api/status" >/dev/null 2>&1 && break; sleep 0.1; done
records() { curl -fs "http://127.0.0.1:$hport/metrics" | awk '$1 == "flowpi_records_total" {print $2}'; }

# CPU time (user + system) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# nfcapd: a fresh instance per step; the flows it stored are counted by nfdump after it exits.
nfcapd_step() { # version rate -> "sent got cpu_ticks"
  local d="$tmp/nfcapd" p
  rm -rf "$d"
  mkdir -p "$d"
  p=$(port)
  nfcapd -w "$d" -b 127.0.0.1 -p "$p" -B $buf -t 3600 >/dev/null 2>&1 &
  npid=$!
  sleep 0.5
  local out cpu
  out=$("$blast" "127.0.0.1:$p" "$1" "$2" "$secs")
  sleep 1
  cpu=$(ticks "$npid")
  kill -TERM "$npid"
  wait "$npid" 2>/dev/null || true
  npid=""
  local got
  got=$(nfdump -R "$d" -q -o 'fmt:%pkt' 2>/dev/null | wc -l)
  echo "$(echo "$out" | awk '{print $3}') $got $cpu"
}

flowpi_step() { # version rate -> "sent got cpu_ticks rss"
  local before after out cpu0
  before=$(records)
  cpu0=$(ticks "$fpid")
  out=$("$blast" "127.0.0.1:$fport" "$1" "$2" "$secs")
  sleep 1
  after=$(records)
  echo "$(echo "$out" | awk '{print $3}') $((after - before)) $(($(ticks "$fpid") - cpu0)) $(awk '/VmRSS/ {print $2}' /proc/$fpid/status)"
}

printf '%-7s %-7s %10s %12s %12s %10s %10s %8s %8s\n' version who asked sent counted 'sent/s' 'counted/s' 'ns/rec' 'RSS(kB)'
declare -A best capped
step() { # who version rate -> 0 when no record was lost
  local sent got cpu rss
  read -r sent got cpu rss < <("${1}_step" "$2" "$3")
  last_rate=$((got / secs))
  printf '%-7s %-7s %10s %12s %12s %10s %10s %8s %8s\n' "v$2" "$1" "$3" "$sent" "$got" "$((sent / secs))" \
    "$last_rate" "$((got > 0 ? cpu * 1000000000 / hz / got : 0))" "${rss:-}"
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
    capped[$v$who]=$([ "$hi" -eq 0 ] && echo " (no loss at any step: the sender's limit)" || true)
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
echo "flowpi peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$fpid/status)"
echo "machine: $(nproc) cores; load average (1, 5, 15 min) before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(a 1-minute load near 0 before the run means a quiet machine; near or above the core count, a loaded one)"
