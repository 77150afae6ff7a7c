#!/usr/bin/env bash
# Checks the snapshot protocol against the Rust (C++20) memory model, beyond
# what running it on this machine shows (RELIABILITY.md, "How the protocol
# is checked"):
#   loom  the protocol's algorithms (shm-runtime/src/protocol/loom_model.rs,
#         mod loom_model) and the message ring's (src/ring/loom_model.rs) under every interleaving with a bounded number of
#         preemptions and every store each load may read;
#   miri  the protocol's unit tests and the in-process backing's tests
#         (shm-runtime/tests/inprocess.rs) under Miri, several scheduler
#         seeds each; the safe API's edges (shm-runtime/tests/edges.rs) and
#         the write buffers (src/scratch.rs) once; the message rings and
#         queues (shm-runtime/tests/ring.rs, queue.rs), two seeds.
# Idempotent; installs the nightly toolchain with Miri if it is missing.
# Bounded: about five minutes on two cores from a clean tree, most of it
# compiling. Usage: bash .ci/concurrency.sh [all|loom|miri]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
logs=target/concurrency
mkdir -p "$logs"

# Runs a command with its output in $logs/$1.log; prints the test summary
# and the time, or the end of the log if it fails.
run() {
    local name=$1 start=$SECONDS status=0
    shift
    "$@" >"$logs/$name.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        echo "$name FAILED (exit $status), end of $logs/$name.log:"
        tail -n 80 "$logs/$name.log"
        exit 1
    fi
    echo "$name: ok in $((SECONDS - start)) s (log: $logs/$name.log)"
    # The tests, unless Miri ran several seeds at once (their lines mix).
    if ! grep -q '^Trying seed' "$logs/$name.log"; then
        grep -E '^test .* \.\.\. (ok|ignored.*)$' "$logs/$name.log" | sed 's/^/    /' || true
    fi
}

if [ "$what" = all ] || [ "$what" = loom ]; then
    echo "--- loom (release build in target/loom, then the model)"
    # cfg(loom) pulls in the loom dev-dependency and compiles the model; a
    # target directory of its own keeps the ordinary build's cache intact.
    run loom env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
        cargo test -p shm-runtime --lib --release loom
fi

if [ "$what" = all ] || [ "$what" = miri ]; then
    echo "--- miri"
    if ! rustup toolchain list | grep -q '^nightly'; then
        rustup toolchain install nightly --profile minimal --component miri,rust-src >/dev/null
    fi
    if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
        rustup component add --toolchain nightly miri rust-src >/dev/null
    fi
    run miri-setup cargo +nightly miri setup
    # The protocol over private memory, with Miri's weak-memory emulation
    # (loads may read stale stores), under full isolation.
    run miri-protocol env MIRIFLAGS="-Zmiri-many-seeds=0..8" \
        cargo +nightly miri test -p shm-runtime --lib protocol
    # The typed API over Options::memory(), with weak-memory emulation.
    # Isolation off: opening reads the clock and claiming write access
    # reads /proc/<pid>/stat.
    run miri-inprocess env MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance -Zmiri-many-seeds=0..4" \
        cargo +nightly miri test -p shm-runtime --test inprocess
    # The edges of the safe API over Options::memory() (tests/edges.rs):
    # a capacity that overflows the layout (it wrote past a heap
    # allocation), Duration::MAX bounds, re-entrant writes; the tests that
    # need a real segment or a large value are left out under Miri. And the
    # private buffers of update/modify (src/scratch.rs), stack and heap.
    run miri-edges env MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" \
        cargo +nightly miri test -p shm-runtime --test edges
    run miri-scratch env MIRIFLAGS="-Zmiri-disable-isolation" \
        cargo +nightly miri test -p shm-runtime --lib scratch
    # The checked schema types (bool, enums, char, FixedStr): reads of
    # hostile payloads over segment images and Options::memory(), the
    # field getters, read_into on an invalid value.
    run miri-types env MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance" \
        cargo +nightly miri test -p shm-runtime --test schema_types
    # Message rings (Ring<M, N>) over Options::memory(): publisher and
    # subscribers on threads, losses, the wait, with weak-memory emulation.
    run miri-ring env MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance -Zmiri-many-seeds=0..2" \
        cargo +nightly miri test -p shm-runtime --test ring
    run miri-queue env MIRIFLAGS="-Zmiri-disable-isolation -Zmiri-permissive-provenance -Zmiri-many-seeds=0..2" \
        cargo +nightly miri test -p shm-runtime --test queue
fi
echo "concurrency checks passed"
