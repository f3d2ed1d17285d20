# shellcheck shell=bash
# Sourced by cross-build.sh and cross-test.sh: installs what a cross build of flowpi needs on a
# Debian 12 x86_64 host (idempotently) and exports cargo's settings for one target.
#   cross_setup TARGET   install toolchain, librrd for TARGET, qemu-user + binfmt_misc
#   cross_env TARGET     export linker, rustflags, runner and QEMU_LD_PREFIX for TARGET
# TARGET is aarch64 or armv7. Downloads and the armhf sysroot live under .cache/cross/ (git-ignored).

cross_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cross_cache="$cross_root/.cache/cross"
armhf_sysroot="$cross_cache/armhf-sysroot"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# The targets a script's argument names: "aarch64", "armv7" or "all" (the default).
cross_targets() {
  case "${1:-all}" in
    all) echo aarch64 armv7 ;;
    aarch64 | armv7) echo "$1" ;;
    *) return 1 ;;
  esac
}

cross_triple() {
  case "$1" in
    aarch64) echo aarch64-unknown-linux-gnu ;;
    armv7) echo armv7-unknown-linux-gnueabihf ;;
    *) echo "unknown target '$1' (aarch64 or armv7)" >&2; return 2 ;;
  esac
}

# apt-get that waits for another apt (the other scripts, unattended upgrades) instead of failing.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "cross: installing ${missing[*]}"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
}

# qemu-user-static ships /usr/lib/binfmt.d/*.conf for systemd-binfmt, which registers nothing where
# binfmt_misc is not mounted or systemd does not run (fresh VMs, containers). The flowpi binaries
# the tests spawn (and mmdebstrap's foreign chroot) need the kernel to run ARM ELF files through
# qemu, so mount and register here; the F flag in the .conf keeps it working in chroots.
binfmt_setup() {
  local bm=/proc/sys/fs/binfmt_misc name
  if [ ! -e "$bm/register" ]; then
    $sudo mount -t binfmt_misc binfmt_misc "$bm"
  fi
  for name in "$@"; do
    if [ ! -e "$bm/$name" ]; then
      $sudo sh -c "cat /usr/lib/binfmt.d/$name.conf > $bm/register"
    fi
  done
}

# Mirror URL of a bookworm suite (default: bookworm) in the host's apt sources, so the sysroot and
# the image come from the mirror the host already uses. MIRROR / SECURITY_MIRROR override.
host_mirror() {
  local suite="${1:-bookworm}" m
  case "$suite" in
    *-security) [ -n "${SECURITY_MIRROR:-}" ] && { echo "$SECURITY_MIRROR"; return; } ;;
    *) [ -n "${MIRROR:-}" ] && { echo "$MIRROR"; return; } ;;
  esac
  # shellcheck disable=SC2016 # apt's own $(FIELD) format, not the shell's
  m="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null \
    | awk -v s="$suite" '$2 == s { print $1; exit }')"
  [ -n "$m" ] || { echo "cross: no $suite suite in the host's apt sources; set MIRROR / SECURITY_MIRROR" >&2; return 1; }
  echo "${m%/}"
}

# arm64: Debian multiarch works on this mirror; librrd-dev:arm64 and its libraries go into the
# host's /usr/lib/aarch64-linux-gnu, which the Debian cross gcc searches by itself.
arm64_libs() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
  fi
  apt_install librrd-dev:arm64
}

# armhf: multiarch apt is not used because a stale armhf index (seen on bookworm-security mirrors)
# makes apt drop that suite for every architecture. Instead a private apt (its own lists, cache and
# an empty dpkg status, APT::Architecture=armhf) downloads librrd-dev, rrdtool and their dependency
# closure, and dpkg-deb -x unpacks them into a sysroot: linked against with -rpath-link, and the
# prefix qemu-arm runs the tests (and the armhf rrdtool) from. dpkg's architectures stay untouched.
armhf_sysroot_setup() {
  local stamp="$armhf_sysroot/.complete" apt="$cross_cache/apt-armhf" mirror deb pkgs
  [ -e "$stamp" ] && return 0
  mirror="$(host_mirror bookworm)"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d"
  : >"$apt/status"
  cat >"$apt/etc/sources.list" <<EOF
deb [arch=armhf signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main
deb [arch=armhf signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-updates main
EOF
  cat >"$apt/apt.conf" <<EOF
APT::Architecture "armhf";
APT::Architectures { "armhf"; };
Dir::State "$apt";
Dir::State::status "$apt/status";
Dir::Cache "$apt";
Dir::Etc::sourcelist "$apt/etc/sources.list";
Dir::Etc::sourceparts "-";
Dir::Etc::preferencesparts "$apt/etc/preferences.d";
APT::Install-Recommends "false";
// The cache is ours, not _apt's: download as the caller.
APT::Sandbox::User "root";
EOF
  export APT_CONFIG="$apt/apt.conf"
  apt-get update -qq
  # Real package names of the closure (virtual packages print as <name>, and are skipped).
  mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances librrd-dev rrdtool \
    | grep -v '^ ' | grep -v '^<' | sort -u)
  (cd "$apt/archives" && apt-get download -qq "${pkgs[@]}")
  unset APT_CONFIG
  rm -rf "$armhf_sysroot"
  mkdir -p "$armhf_sysroot"
  for deb in "$apt"/archives/*.deb; do
    dpkg-deb -x "$deb" "$armhf_sysroot"
  done
  # Absolute symlinks (libfoo.so -> /lib/...) would point into the host; make them relative.
  find "$armhf_sysroot" -type l -lname '/*' | while read -r l; do
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$armhf_sysroot$(readlink "$l")")" "$l"
  done
  echo "${#pkgs[@]} packages" >"$stamp"
  echo "cross: armhf sysroot ready (${#pkgs[@]} packages)"
}

cross_setup() {
  local target="$1" triple
  triple="$(cross_triple "$target")"
  case "$target" in
    aarch64)
      apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
      binfmt_setup qemu-aarch64
      arm64_libs
      ;;
    armv7)
      apt_install gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user-static
      binfmt_setup qemu-arm
      armhf_sysroot_setup
      ;;
  esac
  rustup target list --installed | grep -qx "$triple" || rustup target add "$triple"
}

cross_env() {
  local target="$1" lib
  case "$target" in
    aarch64)
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
      # No -L prefix: with libc6:arm64 installed, qemu finds the loader at its usual place (a
      # -L /usr/aarch64-linux-gnu prefix mixes two loaders and hangs).
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
      ;;
    armv7)
      lib="$armhf_sysroot/usr/lib/arm-linux-gnueabihf"
      export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
      export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-L $lib -C link-arg=-Wl,-rpath-link,$lib -C link-arg=-Wl,-rpath-link,$armhf_sysroot/lib/arm-linux-gnueabihf"
      export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm-static
      # qemu-user (runner and binfmt alike) looks up the loader and libraries under this prefix:
      # the binaries the tests spawn and the armhf rrdtool run from the sysroot too.
      export QEMU_LD_PREFIX="$armhf_sysroot"
      ;;
  esac
}
