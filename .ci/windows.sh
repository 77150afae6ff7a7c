#!/usr/bin/env bash
# Other platforms, checked from Linux (called by .ci/run; runs on its own too):
#  - Windows: cross-compiles shm-runtime for x86_64-pc-windows-gnu with
#    mingw-w64, runs its tests under Wine, and runs the writer/reader example
#    pair as two Wine processes sharing one Win32 file mapping;
#  - macOS and FreeBSD: `cargo check` of the workspace (through clippy,
#    warnings as errors).
# Installs what it needs (apt packages, rustup targets) and is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { echo; echo "=== windows.sh: $* ($(date +%T))"; }

WIN=x86_64-pc-windows-gnu
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
# The linker for the Windows target, for this script's cargo calls only.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc

step "install (only what is missing)"
missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
[ -x "$WINE" ] || missing+=(wine)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target add "$WIN" x86_64-apple-darwin x86_64-unknown-freebsd 2>&1 | grep -v 'is up to date' || true

# clippy runs everything `cargo check` does, plus the lints, with warnings
# as errors as on Linux: code gated to one OS must not leave unused items
# behind on the others.
step "cargo check (clippy) for macOS and FreeBSD"
cargo clippy --workspace --all-targets --target x86_64-apple-darwin -- -D warnings
cargo clippy --workspace --all-targets --target x86_64-unknown-freebsd -- -D warnings

step "clippy for Windows"
cargo clippy --workspace --all-targets --target "$WIN" -- -D warnings

step "bcryptprimitives.dll for Wine"
# Wine 8 has no bcryptprimitives.dll; Rust's std imports ProcessPrng from
# it. .ci/windows/bcryptprimitives.c provides it on top of RtlGenRandom.
out=target/windows-ci
mkdir -p "$out"
dll=$out/bcryptprimitives.dll
src=.ci/windows/bcryptprimitives.c
if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
    x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Werror -o "$dll" "$src" -ladvapi32
fi

step "Wine prefix"
export WINEPREFIX=$PWD/target/wine WINEDEBUG=-all
# No Mono or Gecko install prompts; no display needed.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
trap '"$WINESERVER" -k 2>/dev/null || true' EXIT
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    # First run: wineboot creates the prefix (about 15 s); its chatter
    # (missing 32-bit loader, fonts) is expected and kept out of the log.
    mkdir -p "$WINEPREFIX"
    "$WINE" wineboot --init >"$out/wineboot.log" 2>&1 || { cat "$out/wineboot.log"; exit 1; }
    "$WINESERVER" -w
fi

step "build the runtime's tests for Windows"
# Test executables, from cargo's JSON messages: artifacts built as tests.
mapfile -t exes < <(
    cargo test -p shm-runtime --target "$WIN" --no-run --message-format=json \
        | grep '"reason":"compiler-artifact"' | grep '"test":true' \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
)
((${#exes[@]})) || { echo "no test executables were built"; exit 1; }

step "run the runtime's tests under Wine"
passed=0
failed=0
for exe in "${exes[@]}"; do
    cp "$dll" "$(dirname "$exe")/"
    echo "--- $(basename "$exe")"
    log=$out/$(basename "$exe").log
    # A child test process that faults on purpose makes Wine print
    # "Unhandled page fault ... starting debugger"; that line is expected.
    status=0
    timeout 300 "$WINE" "$exe" >"$log" 2>&1 || status=$?
    cat "$log"
    while read -r p f; do
        passed=$((passed + p))
        failed=$((failed + f))
    done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
    if [ "$status" != 0 ]; then
        echo "$(basename "$exe") exited with status $status under Wine"
        exit 1
    fi
done
echo "wine: $passed passed, $failed failed"

step "writer and reader under Wine, two processes sharing one file mapping"
cargo build -p examples --bins --target "$WIN"
bin=target/$WIN/debug
cp "$dll" "$bin/"
name="Local\\MyShare-ci-$$"
fifo=$out/writer.stdin
rm -f "$fifo" "$out/writer.out"
mkfifo "$fifo"
"$WINE" "$bin/writer.exe" --backend windows --name "$name" <"$fifo" >"$out/writer.out" 2>&1 &
writer=$!
exec 3>"$fifo" # the writer's stdin, held open until it may finish
for _ in $(seq 600); do
    grep -q 'Written to shared memory' "$out/writer.out" 2>/dev/null && break
    kill -0 "$writer" 2>/dev/null || break
    sleep 0.1
done
reader_status=0
timeout 60 "$WINE" "$bin/reader.exe" --backend windows --name "$name" >"$out/reader.out" 2>&1 || reader_status=$?
echo >&3
exec 3>&-
writer_status=0
wait "$writer" || writer_status=$?
sed 's/^/[writer] /' "$out/writer.out"
sed 's/^/[reader] /' "$out/reader.out"
expected=$'Value is 123\nLetter is X\n11th Number is 1.45'
[ "$writer_status" = 0 ] || { echo "writer exited with $writer_status"; exit 1; }
[ "$reader_status" = 0 ] || { echo "reader exited with $reader_status"; exit 1; }
[ "$(tr -d '\r' <"$out/reader.out")" = "$expected" ] || { echo "reader printed something else"; exit 1; }
[ "$(tr -d '\r' <"$out/writer.out")" = $'Written to shared memory\n'"$expected" ] || {
    echo "writer printed something else"
    exit 1
}
# The writer has exited, so the last handle is closed: the mapping is gone.
gone_status=0
"$WINE" "$bin/reader.exe" --backend windows --name "$name" >"$out/gone.out" 2>&1 || gone_status=$?
sed 's/^/[reader after the writer exited] /' "$out/gone.out"
[ "$gone_status" = 1 ] && grep -q 'no such shared-memory segment' "$out/gone.out" || {
    echo "expected the reader to fail with NotFound once the writer had exited"
    exit 1
}

step "demo and status under Wine"
timeout 120 "$WINE" "$bin/demo.exe"
timeout 60 "$WINE" "$bin/status.exe" | tee "$out/status.out"
grep -q '^mode: unknown (Win32 does not report it)' "$out/status.out"
echo "wine: writer/reader pair, demo and status example passed"
