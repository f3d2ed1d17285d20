#!/usr/bin/env bash
# The test suite (unit, golden capture, config, end-to-end) for the Raspberry Pi targets under
# qemu-user, as CI runs it:
#   scripts/cross-test.sh [aarch64|armv7|all]    (default: all)
# Test binaries run through cargo's runner (qemu-*-static); the flowpi binaries they spawn run
# through binfmt_misc. Needs ../shared/captures beside the project, like scripts/test.sh.
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
    if [ "$t" = armv7 ]; then
      # RRD files differ between 32- and 64-bit builds of librrd (field alignment), so the
      # host's x86_64 rrdtool cannot read what the armv7 daemon writes: the tests read the
      # archives with the armhf rrdtool from the sysroot, under qemu like the daemon.
      export FLOWPI_TEST_RRDTOOL="$armhf_sysroot/usr/bin/rrdtool"
    fi
    echo "cross-test: $triple"
    cargo test --locked --target "$triple" --target-dir target/cross
  )
done
echo "cross-test: ${targets[*]}: all tests passed"
