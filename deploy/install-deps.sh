#!/usr/bin/env bash
# Installs everything Head Surgeon needs to build, run and test on a Debian 12 machine:
# Debian packages by name, then the PyPI packages the test suite uses. Safe to re-run;
# it installs only what is missing. The CUDA toolkit is not installed here: when nvcc is
# on PATH (or under /usr/local/cuda) the Makefile builds the CUDA backend as well.
set -euo pipefail

APT_PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev
  libmicrohttpd-dev libcjson-dev libuv1-dev libsqlite3-dev sqlite3
  libopenblas-dev libdnnl-dev libpcre2-dev libcmocka-dev libicu-dev libarchive-dev libssl-dev tzdata
  libjs-chart.js curl ca-certificates python3 python3-pip
  chromium chromium-driver wrk
  slurm-wlm munge
)
# PyPI name=import name (the import tells whether a package is there)
PIP_PACKAGES=(pytest=pytest requests=requests selenium=selenium schemathesis=schemathesis
              axe-selenium-python=axe_selenium_python numpy=numpy)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # Some distributions (Ubuntu, under NVIDIA's CUDA images) ship no chromium package: install
  # what is packaged here and name what is not (only the browser test needs those).
  available=()
  for p in "${missing[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then available+=("$p");
    else echo "install-deps: $p is not packaged here; skipped"; fi
  done
  if [ "${#available[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${available[@]}"
  fi
fi

PY=${PYTHON:-python3}
need_pip=()
for entry in "${PIP_PACKAGES[@]}"; do
  "$PY" -c "import ${entry#*=}" 2>/dev/null || need_pip+=("${entry%%=*}")
done
if [ "${#need_pip[@]}" -gt 0 ]; then
  "$PY" -m pip install -q "${need_pip[@]}" 2>/dev/null \
    || "$PY" -m pip install -q --break-system-packages "${need_pip[@]}"
fi
echo "install-deps: all dependencies present"
