#!/usr/bin/env bash
# Builds and runs the peer benchmark (our runtime side by side with
# iceoryx2's blackboard, mmap-sync and a hand-written seqlock; our message
# rings beside iceoryx2's publish-subscribe and a hand-written ring; see
# BENCHMARKS.md, "Peers"). This directory is its own cargo workspace, so
# the root workspace's `cargo build` / `cargo test --workspace` never
# compile the peers. Arguments go to the binary, e.g.
#
#   benches/peers/run.sh            # full run (a few minutes)
#   benches/peers/run.sh --quick    # every row once, briefly (CI)
#   benches/peers/run.sh --report benches/peers/target/peer-bench/results.json
#
# Results: benches/peers/target/peer-bench/results[.quick].json; the
# markdown table goes to stdout.
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
cargo build --release --locked
echo "peer-bench: build took $(( $(date +%s) - start )) s" >&2
exec target/release/peer-bench "$@"
