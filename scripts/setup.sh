#!/usr/bin/env bash
# Install what flowpi needs to build, run and test on Debian 12 (bookworm). Idempotent: packages
# already present are not touched, and apt's index is refreshed only when something is missing.
set -euo pipefail

pkgs=(build-essential pkg-config librrd-dev rrdtool fonts-dejavu-core python3 curl softflowd faketime)
pkgs+=("$@")

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup: add ~/.cargo/bin to PATH (source \"\$HOME/.cargo/env\")" >&2
  else
    echo "setup: Rust is not installed; install it with rustup (https://rustup.rs) and run this again" >&2
  fi
  exit 1
fi
