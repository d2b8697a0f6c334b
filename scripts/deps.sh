#!/usr/bin/env bash
# Install whatever spanlab needs that this Debian machine does not have yet.
#
# Quick no-op when everything is present (one dpkg-query, no network).
# When something is missing: apt-get update once, then apt-get install the
# missing packages. Exit 1 with a one-line reason when that cannot be done
# (not Debian, not root and no sudo, apt failing).
#
# Usage: scripts/deps.sh [--extra | --fuzz]
#   --extra  also the packages only benchmarks, baselines and fuzzing use
#            (peer allocators, clang's fuzzer runtime, GNU parallel).
#   --fuzz   also clang and its fuzzer runtime only (make fuzz; CI).
set -euo pipefail

core=(gcc make pkg-config libsqlite3-dev sqlite3 libcjson-dev libcriterion-dev
      gnuplot-nox gzip valgrind)
fuzz=(clang libclang-rt-14-dev)
extra=(clang libclang-rt-14-dev libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
       libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev parallel)

want=("${core[@]}")
[ "${1:-}" = "--extra" ] && want+=("${extra[@]}")
[ "${1:-}" = "--fuzz" ] && want+=("${fuzz[@]}")

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
  echo "deps.sh: missing packages (${missing[*]}) and this is not a Debian system with apt-get; install them by hand" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "deps.sh: missing packages (${missing[*]}); run as root or install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq >/dev/null 2>&1; then
  echo "deps.sh: apt-get update failed; cannot install ${missing[*]}" >&2
  exit 1
fi
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "deps.sh: apt-get install ${missing[*]} failed" >&2
  exit 1
fi
