#!/usr/bin/env bash
# The generated C# bindings under Mono: install Mono's C# compiler (Debian's
# mono-mcs, which brings the runtime) if missing, then run the C# client
# tests (the reader alone, and the interop tests of the Segment class with
# Rust processes) with SHM_REQUIRE_CSHARP=1 so that they cannot skip.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq mono-mcs >/dev/null
fi
SHM_REQUIRE_CSHARP=1 cargo test -p shm-cli --test csharp --test csharp_interop
