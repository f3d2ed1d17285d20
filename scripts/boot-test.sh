#!/usr/bin/env bash
# Boot a flowpi SD image under emulation and check it works end to end:
#   scripts/boot-test.sh target/image/flowpi-<version>-arm64.img.xz    (or just: arm64, armhf)
# Boots the image's own kernel, initrd and cmdline.txt from its FAT partition under
# qemu-system-aarch64 -M virt (armhf: qemu-system-arm), the root file system found by its label as
# on a Pi, with user networking forwarding free 127.0.0.1 ports to the guest's 3000/tcp, 2055/udp
# and 22/tcp. The disk gets 512 MiB more than the image, so the first-boot growth runs.
#   First boot, as flashed: wait for flowpi's page, read the password flowpi made from the card's
#   flowpi-password.txt, check that without it /api/hosts answers 401 and the page redirects to
#   /login; replay a NetFlow v5 capture, assert /api/hosts (logged in with HTTP Basic) shows the
#   sent totals and a host graph PNG is served; press the power button and check flowpi stopped
#   cleanly and its archives and password files belong to the flowpi user.
#   Second boot, with `ssh`, `authorized_keys`, an edited flowpi.toml and flowpi-set-password.txt
#   (as Notepad writes it) put on the FAT partition, as a user would from any computer: log in with
#   ssh, check the configuration was copied, flowpi runs as flowpi, the card's password replaced
#   the first one and its file is gone, the archive from the first boot is still graphed, and the
#   unit's MemoryMax/TasksMax are in force; then change the password over ssh (as root), restart
#   flowpi and log in with it.
# The card is read with mtools from the disk image, without mounting it. On the first boot that
# happens while the guest runs, which is safe here: flowpi-setup writes flowpi-password.txt and
# syncs the FAT before flowpi starts (it is ordered before flowpi.service), nothing on the guest
# writes the FAT afterwards, and qemu writes what the guest syncs straight into the image file, so
# once flowpi serves its page the file is complete there. Writes to the card happen only while
# the guest is off.
# Guest consoles: target/boot-test/console-1.log and console-2.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cross-env.sh

image="${1:?usage: $0 IMAGE.img.xz|IMAGE.img|arm64|armhf}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
case "$image" in
  arm64 | armhf) image="target/image/flowpi-$version-$image.img.xz" ;; # as build-image.sh names it
esac
work=target/boot-test
timeout="${BOOT_TIMEOUT:-600}"

apt_install qemu-system-arm mtools xz-utils fdisk e2fsprogs python3 curl openssh-client
rm -rf "$work"
mkdir -p "$work"

# A host build of flowpi sends the NetFlow (flowpi replay); its own target dir keeps target/ free.
replay="${FLOWPI_REPLAY:-}"
if [ -z "$replay" ]; then
  cargo build --locked --quiet --target-dir target/cross
  replay=target/cross/debug/flowpi
fi

echo "boot-test: unpacking $image"
case "$image" in
  *.xz) xz -dc "$image" >"$work/disk.img" ;;
  *) cp --sparse=always "$image" "$work/disk.img" ;;
esac
truncate -s +512M "$work/disk.img"

# Start sector of partition $1 of the disk image.
part_start() {
  sfdisk -d "$work/disk.img" | awk -F'[=,]' -v p="$1" '$0 ~ "^[^ ]*" p " :" { gsub(/ /, "", $2); print $2 }'
}
# The FAT partition, read and written with mtools (no mount).
fat="$work/disk.img@@$(($(part_start 1) * 512))"
export MTOOLS_SKIP_CHECK=1
kernel=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/||p' | grep '^vmlinuz-' | sort -V | tail -1)
initrd=$(mdir -b -i "$fat" ::/ | sed -n 's|^::/||p' | grep '^initrd.img-' | sort -V | tail -1)
mcopy -n -i "$fat" "::/$kernel" "::/$initrd" ::/cmdline.txt ::/flowpi.toml "$work/"
# The Pi's serial consoles do not exist on virt: its UART is ttyAMA0. Journal lines go to the
# console too, so the console logs tell what happened.
cmdline="$(tr -d '\r\n' <"$work/cmdline.txt" | sed 's/console=[^ ]*//g') console=ttyAMA0"
cmdline="$cmdline systemd.journald.forward_to_console=1"
echo "boot-test: $kernel, $initrd, cmdline: $cmdline"
case "$kernel" in
  *-arm64) vm=(qemu-system-aarch64 -M virt -cpu cortex-a72) ;;
  # armhf: the armmp kernel without LPAE cannot reach virt's PCI window above 4 GiB.
  *) vm=(qemu-system-arm -M "virt,highmem=off" -cpu cortex-a15) ;;
esac

free_port() {
  python3 -c "import socket,sys; s=socket.socket(type=getattr(socket,'SOCK_'+sys.argv[1])); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])" "$1"
}
http=$(free_port STREAM)
udp=$(free_port DGRAM)
sshport=$(free_port STREAM)
base="http://127.0.0.1:$http"
pid=""
fail() { echo "boot-test: $*" >&2; exit 1; }
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null || true' EXIT

# boot N: start the guest and wait for flowpi's page; sets boot_s.
boot() {
  local log="$work/console-$1.log" start=$SECONDS
  "${vm[@]}" -smp 2 -m 1024 -display none -serial "file:$log" \
    -monitor "unix:$work/monitor.sock,server,nowait" \
    -kernel "$work/$kernel" -initrd "$work/$initrd" -append "$cmdline" \
    -drive "if=none,id=disk,format=raw,file=$work/disk.img" -device virtio-blk-pci,drive=disk \
    -netdev "user,id=net,hostfwd=tcp:127.0.0.1:$http-:3000,hostfwd=udp:127.0.0.1:$udp-:2055,hostfwd=tcp:127.0.0.1:$sshport-:22" \
    -device virtio-net-pci,netdev=net,romfile= &
  # (romfile= : no PXE option ROM, which is only in the ipxe-qemu package and not needed here)
  pid=$!
  echo "boot-test: boot $1, waiting for $base/ (qemu pid $pid)"
  until curl -fs -o /dev/null --max-time 5 "$base/"; do
    if ! kill -0 "$pid" 2>/dev/null || [ $((SECONDS - start)) -ge "$timeout" ]; then
      echo "boot-test: no page (qemu exited or ${timeout}s passed); console:" >&2
      tail -50 "$log" >&2
      exit 1
    fi
    sleep 1
  done
  boot_s=$((SECONDS - start))
  echo "boot-test: boot $1: flowpi serving ${boot_s}s after qemu started"
}

# poweroff N: press the power button (as a Pi's shutdown would) and wait for a clean stop.
poweroff() {
  python3 - "$work/monitor.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(10)
def prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        buf += s.recv(4096)
prompt()
s.sendall(b"system_powerdown\n")
prompt()
PY
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "boot-test: the guest did not power off within 60s" >&2
    exit 1
  fi
  pid=""
  grep -aq "flowpi.service: Deactivated successfully" "$work/console-$1.log" \
    || { echo "boot-test: flowpi did not stop cleanly" >&2; exit 1; }
}

# Status code of GET $1, with curl options $2...
status() {
  local path=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$@" "$base$path"
}

boot 1
first_boot_s=$boot_s
mcopy -n -i "$fat" ::/flowpi-password.txt "$work/" || fail "no flowpi-password.txt on the card"
password=$(sed -n 's/^    password:   \(.*\)\r$/\1/p' "$work/flowpi-password.txt")
[ -n "$password" ] || fail "no password in the card's flowpi-password.txt"
code=$(status /api/hosts)
[ "$code" = 401 ] || fail "/api/hosts without a password: $code, want 401"
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 30 "$base/")
case "$code" in "303 $base/login") ;; *) fail "/ without a password: '$code', want 303 to /login" ;; esac
code=$(status /api/hosts -u "flowpi:$password-wrong")
[ "$code" = 401 ] || fail "/api/hosts with a wrong password: $code, want 401"
echo "boot-test: boot 1: password read from the card's flowpi-password.txt; without it /api/hosts" \
  "answers 401 and / redirects to /login"
"$replay" replay tests/data/softflowd_v5_synth.pcap --to "127.0.0.1:$udp"

# Totals one replay of softflowd_v5_synth.pcap adds up to (tests/data/synth_traffic.truth.json).
python3 - "$base" "$password" <<'PY'
import base64, json, sys, time, urllib.request
base, password = sys.argv[1:]
auth = "Basic " + base64.b64encode(f"flowpi:{password}".encode()).decode()
want = {"192.168.1.10": (29484, 1604), "192.168.1.11": (8624, 2004), "192.168.1.12": (8400, 108000)}
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("Content-Type"), r.read()
deadline = time.time() + 30
while True:
    got = {h["ip"]: (h["rx_bytes"], h["tx_bytes"]) for h in json.loads(get("/api/hosts")[2])}
    if all(got.get(ip) == v for ip, v in want.items()):
        break
    if time.time() > deadline:
        sys.exit(f"boot-test: /api/hosts {got}, want {want}")
    time.sleep(1)
print("boot-test: /api/hosts shows the sent totals:", {ip: got[ip] for ip in want})
# The archive (and so the graph) exists after flowpi's first step (60 s in the shipped config).
deadline = time.time() + 150
while True:
    try:
        status, ctype, body = get("/graph/host/192.168.1.12/hour.png")
        if status == 200 and body[:8] == b"\x89PNG\r\n\x1a\n":
            break
    except urllib.error.HTTPError as e:
        if e.code != 404 or time.time() > deadline:
            raise
    time.sleep(5)
print(f"boot-test: graph PNG served ({len(body)} bytes, {ctype}), logged in with HTTP Basic")
PY
grep -aq "grow-root: growing" "$work/console-1.log" || { echo "boot-test: root was not grown" >&2; exit 1; }
poweroff 1

# The root file system, read without mounting: the archives belong to the hardened unit's user.
dd if="$work/disk.img" of="$work/root.img" bs=512 skip="$(part_start 2)" status=none
uid=$(debugfs -R "cat /etc/passwd" "$work/root.img" 2>/dev/null | awk -F: '$1 == "flowpi" { print $3 }')
# "owner mode" of a file in the root file system.
owner_mode() {
  debugfs -R "stat $1" "$work/root.img" 2>/dev/null \
    | sed -n 's/.*Mode: *\([0-7]*\).*/\1/p; s/.*User: *\([0-9]*\).*/\1/p' | tac | xargs
}
owner=$(owner_mode /var/lib/flowpi/hosts/192.168.1.12.rrd | cut -d' ' -f1)
hash=$(owner_mode /var/lib/flowpi/password.hash)
initial=$(owner_mode /var/lib/flowpi/initial-password)
rm -f "$work/root.img"
if [ -z "$uid" ] || [ "$owner" != "$uid" ]; then
  echo "boot-test: archive owner '$owner', want the flowpi user '$uid'" >&2
  exit 1
fi
[ "$hash" = "$uid 0600" ] && [ "$initial" = "$uid 0600" ] \
  || fail "password.hash '$hash', initial-password '$initial': want '$uid 0600' (owner, mode)"
echo "boot-test: boot 1: clean power-off; archives and password files owned by the flowpi user" \
  "(uid $uid), those mode 0600"

# Second boot with settings on the card, as a user would put them there from any computer.
ssh-keygen -q -t ed25519 -N "" -C boot-test -f "$work/id"
: >"$work/ssh"
cp "$work/id.pub" "$work/authorized_keys"
sed -i 's/^threads = 1$/threads = 2/' "$work/flowpi.toml"
grep -qx "threads = 2" "$work/flowpi.toml"
# A new password as Windows Notepad may save it: byte order mark, CR LF, more lines after it.
new_password="boot-test $(head -c 12 /dev/urandom | base64)"
printf '\xef\xbb\xbf%s\r\nthe first line is the password\r\n' "$new_password" >"$work/flowpi-set-password.txt"
mcopy -o -i "$fat" "$work/ssh" "$work/authorized_keys" "$work/flowpi.toml" \
  "$work/flowpi-set-password.txt" ::/
boot 2
guest() {
  ssh -q -p "$sshport" -i "$work/id" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=30 root@127.0.0.1 "$@"
}
guest 'grep -qx "threads = 2" /etc/flowpi.toml' || { echo "boot-test: flowpi.toml not copied" >&2; exit 1; }
card=$(guest 'cd /boot/firmware && ls flowpi-*password*' | xargs || true)
[ "$card" = "flowpi-password-changed.txt" ] \
  || fail "password files on the card: '$card', want only flowpi-password-changed.txt"
guest 'findmnt -no OPTIONS /boot/firmware | grep -q "fmask=0077,dmask=0077"' \
  || fail "the card's partition is readable by others than root on the Pi"
files=$(guest 'cd /var/lib/flowpi && stat -c "%n %U %a" password.hash initial-password 2>/dev/null' | xargs || true)
[ "$files" = "password.hash flowpi 600" ] \
  || fail "in /var/lib/flowpi: '$files', want password.hash owned by flowpi, mode 600, and no initial-password"
code=$(status /api/hosts -u "flowpi:$password")
[ "$code" = 401 ] || fail "/api/hosts with the first password after the change: $code, want 401"
code=$(status /api/hosts -u "flowpi:$new_password")
[ "$code" = 200 ] || fail "/api/hosts with the card's new password: $code, want 200"
state=$(guest systemctl show -p User -p ActiveState --value flowpi.service | xargs)
[ "$state" = "flowpi active" ] || { echo "boot-test: flowpi.service: '$state'" >&2; exit 1; }
exposure=$(guest systemd-analyze security --no-pager flowpi.service | tail -1 | sed "s/.*flowpi.service: /exposure /")
echo "boot-test: boot 2: guest listens on: $(guest ss -Hltun | awk '{ print $1 "/" $5 }' | sort -u | xargs)"
if grep -aq "grow-root: growing" "$work/console-2.log"; then
  echo "boot-test: root grown again on the second boot" >&2
  exit 1
fi
curl -fs -o /dev/null -u "flowpi:$new_password" "$base/graph/host/192.168.1.12/day.png" \
  || { echo "boot-test: the first boot's archive is not graphed" >&2; exit 1; }
echo "boot-test: boot 2: ssh login with the card's key, card's flowpi.toml in /etc, card's" \
  "password in use and its file deleted, card readable by root only, flowpi active as user flowpi" \
  "($exposure), first boot's archive graphed"
# The unit's MemoryMax= and TasksMax= reach the kernel (Debian's kernel has the memory controller).
cg=/sys/fs/cgroup/system.slice/flowpi.service
limits=$(guest "cat $cg/memory.max $cg/pids.max" | xargs)
[ "$limits" = "268435456 64" ] || fail "flowpi's cgroup: memory.max, pids.max '$limits', want '268435456 64'"
echo "boot-test: boot 2: flowpi's cgroup: memory.max 256 MiB, pids.max 64; now:" \
  "$(guest "echo memory.peak \$((\$(cat $cg/memory.peak) / 1024)) kB;" \
    "grep -E '^(VmHWM|Threads)' /proc/\$(systemctl show -p MainPID --value flowpi)/status" | xargs)"
# Over ssh the password is changed as root: flowpi set-password gives the new hash to the owner
# of the archive directory (flowpi), so the daemon can read it.
third="boot-test $(head -c 12 /dev/urandom | base64)"
printf '%s\n' "$third" | guest 'flowpi set-password --config /etc/flowpi.toml >/dev/null && systemctl restart flowpi' \
  || fail "flowpi set-password over ssh, then systemctl restart flowpi, failed"
code=$(status /api/hosts -u "flowpi:$third")
[ "$code" = 200 ] || fail "/api/hosts after flowpi set-password over ssh and a restart: $code, want 200"
echo "boot-test: boot 2: flowpi set-password over ssh, then a restart: the new password works"
poweroff 2

echo "boot-test: passed; flowpi served its page ${first_boot_s}s after qemu started" \
  "(second boot: ${boot_s}s)"
