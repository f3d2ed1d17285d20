#!/usr/bin/env bash
# Ingest benchmark: the same fast sender (benches/tools/blast.rs: prebuilt datagrams of 30 records,
# sendmmsg) sends NetFlow v5, v9 and IPFIX to flowpi and to nfcapd (Debian's nfdump) on 127.0.0.1.
# For each collector and version it climbs a ladder of record rates until a step loses records
# (records counted != records sent), then halves the gap between the last clean step and the
# first lossy one BISECT times. It prints the highest rate taken with no loss, the ratio
# flowpi/nfcapd, and flowpi's peak RSS.
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

# nfcapd: a fresh instance per step; the flows it stored are counted by nfdump after it exits.
nfcapd_step() { # version rate -> "sent got"
  local d="$tmp/nfcapd" p
  rm -rf "$d"
  mkdir -p "$d"
  p=$(port)
  nfcapd -w "$d" -b 127.0.0.1 -p "$p" -B $buf -t 3600 >/dev/null 2>&1 &
  npid=$!
  sleep 0.5
  local out
  out=$("$blast" "127.0.0.1:$p" "$1" "$2" "$secs")
  sleep 1
  kill -TERM "$npid"
  wait "$npid" 2>/dev/null || true
  npid=""
  local got
  got=$(nfdump -R "$d" -q -o 'fmt:%pkt' 2>/dev/null | wc -l)
  echo "$(echo "$out" | awk '{print $3}') $got"
}

flowpi_step() {
  local before after out
  before=$(records)
  out=$("$blast" "127.0.0.1:$fport" "$1" "$2" "$secs")
  sleep 1
  after=$(records)
  echo "$(echo "$out" | awk '{print $3}') $((after - before)) $(awk '/VmRSS/ {print $2}' /proc/$fpid/status)"
}

printf '%-8s %-8s %12s %14s %14s %10s\n' version who rate sent counted 'RSS(kB)'
declare -A best
step() { # who version rate -> 0 when no record was lost
  local sent got rss
  read -r sent got rss < <("${1}_step" "$2" "$3")
  printf '%-8s %-8s %12s %14s %14s %10s\n' "v$2" "$1" "$3" "$sent" "$got" "${rss:-}"
  [ "$sent" = "$got" ]
}
for v in "${versions[@]}"; do
  for who in flowpi nfcapd; do
    lo=0
    hi=0
    for r in "${rates[@]}"; do
      if step "$who" "$v" "$r"; then
        lo=$r
      else
        hi=$r
        break
      fi
    done
    # Between the last clean step and the first lossy one: halve the gap a few times.
    for _ in $(seq "$bisect"); do
      [ "$hi" -gt 0 ] || break
      mid=$(((lo + hi) / 2))
      if step "$who" "$v" "$mid"; then lo=$mid; else hi=$mid; fi
    done
    best[$v$who]=$lo
  done
done

echo
echo "highest loss-free rate (records/s, ${secs}s per step, 30 records per datagram):"
for v in "${versions[@]}"; do
  f=${best[${v}flowpi]}
  n=${best[${v}nfcapd]}
  ratio=$(python3 -c "print('%.1f' % ($f / $n) if $n else 'n/a')")
  printf '  v%-3s flowpi %9s   nfcapd %9s   ratio %s\n' "$v" "$f" "$n" "$ratio"
done
echo "flowpi peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$fpid/status)"
