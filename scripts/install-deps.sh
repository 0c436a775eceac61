#!/usr/bin/env bash
# Installs the Debian 12 packages ChatAgent needs to build, test and benchmark.
# Idempotent: does nothing when every package is present. Debian packages only.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libcaf-dev libboost-dev libboost-system-dev libsimdjson-dev librocksdb-dev
  libfaiss-dev libopenblas-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev
  libssl-dev libsodium-dev libcli11-dev libtomlplusplus-dev libjemalloc-dev
  libpoppler-cpp-dev libzip-dev tzdata ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk nginx-light curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
