#!/usr/bin/env bash
# 32-bit x86 (i686), checked from x86_64 Linux (called by .ci/run; runs on
# its own too). On i686 `u64`, `i64` and `f64` are only 4-aligned; the
# derive records and checks the 64-bit (natural) alignment, so that 32- and
# 64-bit programs agree on every schema (README, "Limits"). This script:
#  - runs clippy (warnings as errors) for i686;
#  - checks that the derive refuses, on i686, the layouts that only i686
#    would give (.ci/i686/natural_alignment.rs must fail to compile);
#  - runs the runtime's and the schemas' tests as 32-bit processes, if a
#    32-bit C toolchain (gcc-multilib) is there or can be installed.
# Installs what it needs (the rustup target, gcc-multilib) and is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
T=i686-unknown-linux-gnu

step() { echo; echo "=== i686.sh: $* ($(date +%T))"; }

step "install (only what is missing)"
rustup target add "$T" 2>&1 | grep -v 'is up to date' || true
if ! echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq gcc-multilib >/dev/null; } ||
        echo "gcc-multilib could not be installed: the tests will not run as 32-bit processes"
fi

step "clippy for i686"
cargo clippy -p shm-runtime -p schemas --all-targets --target "$T" -- -D warnings

step "the derive refuses layouts only i686 gives"
cargo build -p shm-runtime --target "$T"
out=target/i686-ci
mkdir -p "$out"
status=0
rustc --edition 2024 --crate-type lib --target "$T" -o "$out/natural_alignment.rlib" \
    -L "dependency=target/$T/debug/deps" -L dependency=target/debug/deps \
    --extern "shm_runtime=target/$T/debug/libshm_runtime.rlib" \
    .ci/i686/natural_alignment.rs >"$out/natural_alignment.log" 2>&1 || status=$?
if [ "$status" = 0 ]; then
    echo ".ci/i686/natural_alignment.rs compiled for i686; it must not"
    exit 1
fi
grep -q '`b` is at offset 4, not a multiple of its alignment 8' "$out/natural_alignment.log" &&
    grep -q '`Twelve` is 12 bytes, not a multiple of its alignment 8' "$out/natural_alignment.log" || {
    cat "$out/natural_alignment.log"
    echo "expected the derive's natural-alignment errors"
    exit 1
}
echo "refused, as it should be"

if echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; then
    step "tests as 32-bit processes"
    # The layout test compares fingerprints with the x86_64 values.
    cargo test -p shm-runtime -p schemas --target "$T"
else
    step "no 32-bit C toolchain: tests not run as 32-bit processes"
fi
echo "i686 checks passed"
