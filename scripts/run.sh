#!/usr/bin/env bash
# Installs dependencies (when run as root), builds, and starts the server with config/ossa.yaml:
# AE title OSSA on port 11112, storage and index under ./var.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then ./scripts/setup-debian.sh; fi
./scripts/build.sh
exec ./build/core/ossa serve --config config/ossa.yaml
