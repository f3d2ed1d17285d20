#!/usr/bin/env bash
# Real-browser test of the web page: runs flowpi on free loopback ports with a temporary archive,
# replays a NetFlow capture into it, then drives the page in Debian's headless Chromium
# (tests/browser/page.test.mjs). Screenshots land in target/browser/. PATTERN=regex runs only the
# tests whose names match.
# Usage: scripts/browser-test.sh [path/to/flowpi]     (default: target/debug/flowpi)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-target/debug/flowpi}
if [[ ! -x $bin ]]; then
  echo "browser-test: $bin is not an executable (run cargo build first)" >&2
  exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
capture=tests/data/softflowd_v5_synth.pcap

log() { echo "browser-test: $*"; }

# --- tools: Debian's chromium, node and npm, installed only when missing --------------------------
# (dpkg -s alone also succeeds for a removed package whose configuration files remain.)
installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
missing=()
installed chromium || missing+=(chromium)
installed nodejs || missing+=(nodejs)
# NodeSource's nodejs ships npm itself; Debian's nodejs needs the separate npm package.
if ! command -v npm >/dev/null 2>&1 && ! installed npm; then missing+=(npm); fi
if ((${#missing[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# --- node_modules, cached in tests/browser (git-ignored) while package-lock.json is unchanged ------
(
  cd tests/browser
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  have=$(cat node_modules/.flowpi-lock-sha256 2>/dev/null || true)
  if [[ $want != "$have" ]]; then
    log "npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
    echo "$want" >node_modules/.flowpi-lock-sha256
  fi
)

# --- a flowpi of our own on free ports ------------------------------------------------------------
tmp=$(mktemp -d)
pid=
dns_pid=
cleanup() {
  local rc=$?
  for p in $pid $dns_pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if ((rc != 0)) && [[ -f $tmp/flowpi.log ]]; then
    echo "--- flowpi log (last 40 lines) ---" >&2
    tail -n 40 "$tmp/flowpi.log" >&2 || true
  fi
  mkdir -p target/browser
  cp "$tmp/flowpi.log" target/browser/flowpi.log 2>/dev/null || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r udp_port http_port < <(python3 - <<'EOF'
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.bind(("127.0.0.1", 0))
print(u.getsockname()[1], t.getsockname()[1])
EOF
)

# A DNS stub that names one host by PTR, as a home router names its DHCP clients.
coproc DNS { exec python3 tests/browser/dns_stub.py 192.168.1.11=laptop.lan; }
dns_pid=$DNS_PID
read -r dns_port <&"${DNS[0]}"

cat >"$tmp/flowpi.toml" <<EOF
[collector]
listen = ["127.0.0.1:$udp_port"]
[archive]
dir = "$tmp/archive"
step = "1s"
[http]
listen = "127.0.0.1:$http_port"
[names]
resolver = "127.0.0.1:$dns_port"
[[host]]
address = "192.168.1.10"
name = "Living-room TV"
EOF

url=http://127.0.0.1:$http_port
log "starting $bin (NetFlow on udp/$udp_port, web on $url)"
"$bin" --config "$tmp/flowpi.toml" >"$tmp/flowpi.log" 2>&1 &
pid=$!

# flowpi runs with its default login; at first start it writes the password it generated.
http_get() {
  python3 - "$1" "$tmp/archive/initial-password" <<'PY'
import base64, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
try:
    pw = open(sys.argv[2]).read().strip()
    req.add_header("Authorization", "Basic " + base64.b64encode(f"flowpi:{pw}".encode()).decode())
except OSError:
    pass
sys.stdout.write(urllib.request.urlopen(req, timeout=2).read().decode())
PY
}

for ((i = 0; ; i++)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "flowpi exited before answering"
    exit 1
  fi
  if http_get "$url/api/status" >/dev/null 2>&1; then break; fi
  if ((i >= 150)); then
    log "flowpi did not answer $url/api/status within 15 s"
    exit 1
  fi
  sleep 0.1
done
log "status: $(http_get "$url/api/status")"

log "replaying $capture"
"$bin" replay "$capture" --to "127.0.0.1:$udp_port"

# Hosts appear at the next step; their archives a step after that.
for ((i = 0; i < 100; i++)); do
  hosts=$(http_get "$url/api/hosts" 2>/dev/null || true)
  [[ $hosts == '['*'{'* ]] && break
  sleep 0.1
done
sleep 3
log "hosts: $(http_get "$url/api/hosts")"
log "interfaces: $(http_get "$url/api/interfaces")"

log "running the page test in Chromium"
# The test starts daemons of its own (the same binary) for the doctor's situations.
FLOWPI_URL=$url FLOWPI_PASSWORD=$(cat "$tmp/archive/initial-password") FLOWPI_UDP=$udp_port FLOWPI_BIN=$bin \
  timeout 600 node --test ${PATTERN:+--test-name-pattern="$PATTERN"} --test-concurrency=1 --test-reporter=spec tests/browser/page.test.mjs
log "screenshots in target/browser/"
# The README's and docs' screenshots are these; UPDATE_SCREENSHOTS=1 refreshes them.
if [[ ${UPDATE_SCREENSHOTS:-0} == 1 ]]; then
  cp target/browser/page.png tests/browser/screenshots/desktop.png
  cp target/browser/page-mobile.png tests/browser/screenshots/phone.png
  log "updated tests/browser/screenshots/"
fi
