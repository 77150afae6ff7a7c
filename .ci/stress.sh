#!/usr/bin/env bash
# The message rings and queues under stress and SIGKILL, across processes
# (called by .ci/run; runs on its own too). A release build of the `stress`
# example (about 1.5 minutes cold), then `stress all`, about 45 s:
#   - 10^7 checksummed 64-byte messages and 10^6 of 4 KiB from a producer
#     process to a consumer process, through a ring (received + reported
#     lost = published) and through a queue (all received, in order, once);
#   - 200 ring producers and 200 queue producers SIGKILLed at random
#     instants (64-byte messages; 100 + 100 with 4 KiB ones), each next one
#     taking over; one consumer throughout;
#   - 100 + 100 queue consumers SIGKILLed (peek/ack: at least once;
#     try_recv: at most once), each next one taking over.
# The binary checks every message itself and exits 1 on the first failure,
# printing its seed (`stress --seed S ...` repeats the kill points). No
# timing is asserted; the times printed are for the record.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
cargo build --release -q -p examples --bin stress
echo "stress: release build in $((SECONDS - start)) s"
target/release/stress all
echo "stress: step took $((SECONDS - start)) s"
