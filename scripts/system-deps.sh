#!/usr/bin/env bash
# Debian packages the build and the tests need: a real mosquitto broker for the external-broker
# tests, PostgreSQL (the tests run their own throwaway cluster with its binaries, never the
# system's: test/helpers/postgres.ts), the C toolchain and libraries of the firmware host
# (libmosquitto, libsodium, cmake, the Cortex-M cross compiler), QEMU, which boots the Cortex-M4
# test image, clang with its compiler-rt (libFuzzer) for the fuzz harnesses (npm run fuzz), lld,
# with which clang builds the C example modules to wasm32, what builds the wasm3 addon (C/C++
# compiler, Python and pip for node-gyp and the source download), and Debian's chromium, which the
# web console's browser tests drive through playwright-core (Playwright's own browser download does
# not work offline). Fast when everything is there; installs what is missing when run as root with
# apt-get; otherwise prints the command and carries on.
set -u
PACKAGES=(mosquitto mosquitto-clients postgresql libmosquitto-dev libsodium-dev cmake gcc g++ make python3 python3-pip
          clang libclang-rt-dev lld
          gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
          chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "system-deps: apt-get failed" >&2; exit 1; }
else
  echo "system-deps: missing ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
