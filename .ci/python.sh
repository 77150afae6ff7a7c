#!/usr/bin/env bash
# The Python package's tests (shm-cli/tests/python_pkg.rs, python_streams.rs)
# need python3 with venv and pip (they pip install bindings/python into a
# fresh venv) and libatomic (the package's writer, futex waiter and queue
# consumer use it through ctypes).
# Installs what is missing on Debian/Ubuntu; runs before `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c "import ensurepip, venv" 2>/dev/null || missing+=(python3-venv python3-pip)
python3 -c "import ctypes.util, sys; sys.exit(ctypes.util.find_library('atomic') is None)" 2>/dev/null ||
    missing+=(libatomic1)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 --version
python3 -c "import ensurepip, venv; import ctypes.util; print('libatomic:', ctypes.util.find_library('atomic'))"
