#!/usr/bin/env bash
# Cross-build release binaries of flowpi for the Raspberry Pi, without Docker, on Debian 12 x86_64:
#   scripts/cross-build.sh [aarch64|armv7|all]    (default: all)
# aarch64 runs on 64-bit Raspberry Pi OS / Debian arm64 (Pi 3, 4, Zero 2 W), armv7 on armhf (Pi 2
# and up). Installs what it needs (see cross-env.sh), then writes
# target/cross/<triple>/release/flowpi. A separate target dir keeps the host's target/ unlocked.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cross-env.sh

if ! list="$(cross_targets "${1:-all}")"; then
  echo "usage: $0 [aarch64|armv7|all]" >&2
  exit 2
fi
read -ra targets <<<"$list"

for t in "${targets[@]}"; do
  triple="$(cross_triple "$t")"
  cross_setup "$t"
  (
    cross_env "$t"
    cargo build --locked --release --target "$triple" --target-dir target/cross
  )
  bin="target/cross/$triple/release/flowpi"
  echo "cross-build: $bin ($(stat -c %s "$bin") bytes): $(file -b "$bin" | cut -d, -f1-2)"
done
