#!/usr/bin/env bash
# Instructions per record, counted rather than timed: the in-process decode bench (benches/decode.rs,
# the ingest bench's traffic: v5, v9 and IPFIX) run once under cachegrind (valgrind --tool=cachegrind
# --cache-sim=no), its instruction count divided by the records it decoded and counted. Timings on a
# shared or virtual machine vary by 10-15 % from run to run, more than most changes being measured;
# instruction counts do not vary, so a change's cost shows to the instruction. They are not time
# (cache misses and branch mispredictions cost more than an instruction): confirm a real change
# with scripts/bench-ingest.sh on a quiet machine.
#
# Usage: scripts/bench-instructions.sh [BASE_REV]
#   With BASE_REV (any git revision), the same count for that revision too, built in a worktree
#   under target/instructions/, and the change in percent. The count includes the bench's setup
#   (building the datagrams, learning the templates): about 0.2 % of one pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh valgrind

work=target/instructions
mkdir -p "$work"

# The bench binary of the tree in $1, built unstripped (for cg_annotate) into target dir $2.
build() {
  (cd "$1" && CARGO_PROFILE_BENCH_STRIP=false CARGO_PROFILE_BENCH_DEBUG=1 \
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 CARGO_TARGET_DIR="$2" \
    cargo bench --locked --bench decode --no-run --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
}

# "INSTRUCTIONS RECORDS" for bench binary $1 and version $2. One pass of the bench's inner loop
# (1000 times its 512 datagrams of 30 records) is all it makes under cachegrind. A bench that
# does not print its record count (older revisions) made 15,360,000 records.
count() {
  local out ir recs
  out=$(valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/cachegrind.$2.$3.out" \
    "$1" 0.01 "bench v$2" 2>&1)
  ir=$(sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' <<<"$out" | tr -d ,)
  recs=$(sed -n 's/.*(\([0-9]*\) records).*/\1/p' <<<"$out")
  [ -n "$ir" ] || { echo "bench-instructions: no count from cachegrind:" >&2; echo "$out" >&2; exit 1; }
  echo "$ir ${recs:-15360000}"
}

bin=$(build . "$PWD/$work/target")
base_bin=""
if [ $# -gt 0 ]; then
  rev=$(git rev-parse --verify "$1^{commit}")
  tree="$work/base-$rev"
  [ -d "$tree" ] || git worktree add -f --detach "$tree" "$rev" >/dev/null
  base_bin=$(build "$tree" "$PWD/$work/base-target")
fi

printf '%-8s %14s %12s %10s' version instructions records "per rec"
[ -z "$base_bin" ] || printf ' %12s %8s' "base per rec" change
printf '\n'
for v in 5 9 10; do
  read -r ir recs < <(count "$bin" "$v" head)
  per=$(awk -v i="$ir" -v r="$recs" 'BEGIN { printf "%.1f", i / r }')
  printf '%-8s %14s %12s %10s' "v$v" "$ir" "$recs" "$per"
  if [ -n "$base_bin" ]; then
    read -r bir brecs < <(count "$base_bin" "$v" base)
    bper=$(awk -v i="$bir" -v r="$brecs" 'BEGIN { printf "%.1f", i / r }')
    printf ' %12s %7s%%' "$bper" "$(awk -v a="$per" -v b="$bper" 'BEGIN { printf "%+.1f", (a / b - 1) * 100 }')"
  fi
  printf '\n'
done
echo "(instructions per record decoded and counted by every view at its default bounds; per-line"
echo " counts: cg_annotate $work/cachegrind.VERSION.head.out)"
