#!/usr/bin/env bash
# Fuzzes segment validation with cargo-fuzz (libFuzzer) on the nightly
# toolchain, each target for a bounded time. Idempotent; installs what it
# needs. Usage: bash .ci/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-${FUZZ_SECONDS:-30}}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +stable install cargo-fuzz --locked
fi

targets=$(for f in fuzz/fuzz_targets/*.rs; do basename "$f" .rs; done)
echo "fuzz targets:" $targets
echo "seeding corpora"
cargo +nightly run --quiet --manifest-path fuzz/Cargo.toml --bin make_seeds

# The seeds are regenerated each run (they carry the current fingerprint);
# the corpus directories are not kept under version control.
for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    seeds="fuzz/seeds/$t"
    [ -d "$seeds" ] || seeds=""
    echo "=== fuzz $t for ${secs}s"
    log="fuzz/artifacts/$t.log"
    mkdir -p fuzz/artifacts
    status=0
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" $seeds -- \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^Done|cov: .*corp' "$log" | tail -4
    if [ "$status" -ne 0 ]; then
        echo "fuzz $t failed (exit $status):"; tail -60 "$log"; exit 1
    fi
done
echo "fuzzing done"
