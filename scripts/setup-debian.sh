#!/usr/bin/env bash
# Installs the Debian 12 packages Ossa builds and tests with. Needs root (or sudo); a no-op when
# everything is already installed.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libdcmtk-dev dcmtk            # DICOM: library, data dictionary, and the reference tools tests use
  libsqlite3-dev sqlite3        # index
  libyaml-cpp-dev               # configuration
  nlohmann-json3-dev            # JSON of the index's attribute columns
  libgtest-dev libgmock-dev     # unit tests
  python3 python3-pydicom       # integration tests make their data with pydicom
  python3-numpy                 # pixel data of generated test and benchmark instances
  libopenjp2-tools              # opj_compress: real JPEG 2000 test data
  libboost-dev                  # Boost.DLL (header-only) loads plugins
  libxmlrpc-c++8-dev            # XML-RPC control interface (xmlrpc-c)
  libxmlrpc-core-c3-dev         # the `xmlrpc` command-line client the XML-RPC tests call
  libcpp-httplib-dev            # HTTP: /testdbalive, WADO, plugin routes
  libssl-dev                    # cpp-httplib's HTTPS client (DownloadURL, FHIR look-ups)
  libpq-dev                     # emr-lookup plugin: PostgreSQL client (libpq)
  postgresql                    # emr-lookup tests start a real PostgreSQL server (initdb, pg_ctl)
  openssl                       # emr-lookup HTTPS test makes a self-signed certificate
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
