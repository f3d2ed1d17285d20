#!/usr/bin/env bash
# Fuzz the decoder with cargo fuzz (libFuzzer, nightly toolchain), seeded with every capture's
# datagrams from ../shared/captures. One decoder is kept across inputs (see
# tests/fuzz/fuzz_targets/decode.rs). Usage: scripts/fuzz.sh [SECONDS]   (default 1800)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal

corpus=target/fuzz-corpus
if [ ! -d "$corpus" ]; then
  mapfile -t pcaps < <(find ../shared/captures -name '*.pcap' | sort)
  cargo run -q --example corpus -- "$corpus" "${pcaps[@]}"
fi
cargo +nightly fuzz run --fuzz-dir tests/fuzz decode "$corpus" -- \
  -max_total_time="$secs" -max_len=9000 -print_final_stats=1
