#!/usr/bin/env bash
# The whole test suite: unit, golden capture, config and end-to-end tests against the real binary,
# then the web page in a real browser. Expects ../shared/captures beside the project.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --locked
# Benches, examples and the rest must keep compiling even though the suite does not run them.
cargo check --locked --all-targets
cargo test --locked
scripts/browser-test.sh target/debug/flowpi
echo "test.sh: all tests passed"
