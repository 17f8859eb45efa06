#!/usr/bin/env bash
# Builds Ossa and runs the whole test suite (unit and integration) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cd build
ctest --output-on-failure -j2 "$@"
