#!/usr/bin/env bash
# Build the flowpi Raspberry Pi SD-card image from Debian bookworm packages, as root, without
# Docker, loop devices or mounting anything:
#   sudo scripts/build-image.sh arm64|armhf
# arm64 boots the Pi 3, 4 and Zero 2 W; armhf the Pi 2 and 3. The content is described under
# image/ (see image/README.md). Writes target/image/flowpi-<version>-<arch>.img.xz and its .sha256;
# downloaded packages stay in .cache/image/ so the next build downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cross-env.sh

arch="${1:-}"
case "$arch" in
  arm64) target=aarch64 qemu=qemu-aarch64 ;;
  armhf) target=armv7 qemu=qemu-arm ;;
  *) echo "usage: $0 arm64|armhf" >&2; exit 2 ;;
esac
# mmdebstrap's root mode: files in the image get their real owners, and mkfs.ext4 -d copies them.
[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (sudo)" >&2; exit 1; }

fat_mib=256        # firmware, kernel, initrd, and room for a kernel upgrade (two of each)
start_mib=4        # the first partition starts 4 MiB in, aligned for SD cards' erase blocks
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
name="flowpi-$version-$arch"
out=target/image
work="$out/work-$arch"
cache="$PWD/.cache/image/apt-$arch"
root="$work/rootfs"
t0=$SECONDS

apt_install mmdebstrap qemu-user-static arch-test dosfstools mtools fdisk e2fsprogs xz-utils
binfmt_setup "$qemu"
bin="target/cross/$(cross_triple "$target")/release/flowpi"
# sudo usually leaves cargo (a user's rustup) off root's PATH: then take the binary the user built
# with scripts/cross-build.sh.
if command -v cargo >/dev/null; then
  scripts/cross-build.sh "$target"
elif [ ! -x "$bin" ]; then
  echo "build-image: no cargo here and no $bin: run scripts/cross-build.sh $target first" >&2
  exit 1
fi

mirror="$(host_mirror bookworm)"
security="$(host_mirror bookworm-security)"
keyring="signed-by=/usr/share/keyrings/debian-archive-keyring.gpg"
sources=("deb [$keyring] $mirror bookworm main non-free-firmware"
  "deb [$keyring] $mirror bookworm-updates main non-free-firmware")
# The armhf index of bookworm-security has been seen stale on mirrors (apt then drops the suite);
# the armhf build goes without it, and the image's own sources still list it for upgrades.
if [ "$arch" = arm64 ] || [ -n "${SECURITY_MIRROR:-}" ]; then
  sources+=("deb [$keyring] $security bookworm-security main non-free-firmware")
fi
include="$(cat image/packages.txt "image/packages-$arch.txt" | sed 's/#.*//' | xargs | tr ' ' ,)"

rm -rf "$work"
mkdir -p "$work" "$cache"
t1=$SECONDS
echo "build-image: mmdebstrap $arch (packages cached in .cache/image/apt-$arch)"
# image/pre/ goes in before any package: raspi-firmware's kernel hook reads
# /etc/default/raspi-firmware, and the initramfs its module list, when the kernel is installed.
# force-confold keeps those files where a package ships the same conffile. All packages are
# installed by mmdebstrap itself (apt inside the image), never by the host's apt.
# shellcheck disable=SC2016 # "$1" is the hooks' argument (the root directory), expanded by mmdebstrap
mmdebstrap --arch="$arch" --variant=minbase --include="$include" \
  --dpkgopt=force-confold --dpkgopt=force-confdef \
  --skip=essential/unlink --skip=download/empty \
  --setup-hook='tar -C image/pre --owner=0 --group=0 -c . | tar -C "$1" -x --no-overwrite-dir' \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $cache /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives $cache" \
  bookworm "$root" "${sources[@]}"
t_mmdebstrap=$((SECONDS - t1))

echo "build-image: flowpi and image/overlay"
rm -f "$root"/etc/dpkg/dpkg.cfg.d/99mmdebstrap "$root"/etc/apt/apt.conf.d/99mmdebstrap
tar -C image/overlay --owner=0 --group=0 -c . | tar -C "$root" -x --no-overwrite-dir
install -m 0755 "$bin" "$root/usr/bin/flowpi"
install -m 0644 etc/flowpi.toml "$root/etc/flowpi.toml"
install -m 0644 etc/flowpi.service "$root/usr/lib/systemd/system/flowpi.service"
rm -f "$root/etc/apt/sources.list"
sed "s|@MIRROR@|$mirror|; s|@SECURITY_MIRROR@|$security|" image/debian.sources \
  | grep -v '^#' >"$root/etc/apt/sources.list.d/debian.sources"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
systemd-sysusers --root="$root"
mapfile -t units < <(sed 's/#.*//' image/enable.txt | xargs -n1)
systemctl --root="$root" enable "${units[@]}"
# A headless appliance must not stop its first boot at systemd-firstboot's console prompts.
systemctl --root="$root" mask systemd-firstboot.service
# wpasupplicant enables its D-Bus service; the card's Wi-Fi uses wpa_supplicant@wlan0 instead.
systemctl --root="$root" disable wpa_supplicant.service
# Each card makes its own identity on first boot: machine id (also the DHCP client id) and ssh host
# keys; ssh stays off until the card's boot partition asks for it (flowpi-setup).
: >"$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id"
touch "$root/etc/ssh/sshd_not_to_be_run"

echo "build-image: boot partition"
boot="$work/boot"
mkdir -p "$boot"
mv "$root"/boot/firmware/* "$boot/"
cp image/card/* "$boot/"
cp etc/flowpi.toml "$boot/flowpi.toml"
ls "$boot"/vmlinuz-* "$boot"/initrd.img-* "$boot/config.txt" "$boot/cmdline.txt" >/dev/null

echo "build-image: disk image"
t2=$SECONDS
# The root file system gets a quarter more than its content; it grows to the card on first boot.
root_mib=$(( ($(du -s -B1M "$root" | cut -f1) * 5 / 4 + 64 + 3) / 4 * 4 ))
mkfs.vfat -C "$work/boot.img" $((fat_mib * 1024)) -F 32 -n FLOWPI-BOOT >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -i "$work/boot.img" "$boot"/* ::/
mkfs.ext4 -q -F -L flowpi-root -d "$root" "$work/root.img" "${root_mib}M"
img="$work/$name.img"
truncate -s $((start_mib + fat_mib + root_mib))M "$img"
sfdisk --quiet "$img" <<SFDISK
label: dos
start=${start_mib}MiB, size=${fat_mib}MiB, type=c, bootable
start=$((start_mib + fat_mib))MiB, size=${root_mib}MiB, type=83
SFDISK
dd if="$work/boot.img" of="$img" bs=1M seek="$start_mib" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((start_mib + fat_mib)) conv=notrunc,sparse status=none
t_assembly=$((SECONDS - t2))

echo "build-image: xz"
t3=$SECONDS
xz -T0 -6 -c "$img" >"$out/$name.img.xz"
(cd "$out" && sha256sum "$name.img.xz" >"$name.img.xz.sha256")
t_xz=$((SECONDS - t3))
[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
echo "build-image: $out/$name.img.xz: $(du -h --apparent-size "$out/$name.img.xz" | cut -f1)" \
  "($((start_mib + fat_mib + root_mib)) MiB unpacked); mmdebstrap ${t_mmdebstrap}s," \
  "disk assembly ${t_assembly}s, xz ${t_xz}s, total $((SECONDS - t0))s"
