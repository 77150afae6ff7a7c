#!/usr/bin/env bash
# Benchmarks in quick mode (called by .ci/run; runs on its own too): every
# criterion benchmark and the cross-process harness compile and run once,
# briefly, so they cannot rot. No timing is asserted: this machine is shared
# and noisy (the figures are in BENCHMARKS.md, from a full run).
#
# The dev profile reuses what `cargo test --workspace` already built, which
# keeps this step short; the full run (`cargo bench -p benches`) uses the
# optimised bench profile.
set -euo pipefail
cd "$(dirname "$0")/.."

# `--test` is criterion's run-once mode; the harness takes it as --quick.
cargo bench -p benches --profile dev -- --test
# The report reads whatever results exist (none in quick mode: dashes).
cargo run -q -p benches --bin bench-report >/dev/null
echo "benchmarks: quick mode ran"

# The peer benchmark (benches/peers: its own workspace, so iceoryx2 and
# mmap-sync stay out of the root workspace's builds): a release build
# (about a minute cold, timed by the script) and a quick run of every row.
# (The root's `cargo fmt --all` does not see it: checked here.)
cargo fmt --manifest-path benches/peers/Cargo.toml --check
bash benches/peers/run.sh --quick
echo "peer benchmark: quick mode ran"
