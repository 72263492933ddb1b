#!/usr/bin/env bash
# Fetch the third-party C sources the firmware host builds from, at pinned versions with pinned
# SHA-256 checksums, into firmware-host/third_party/ (git-ignored; never committed).
#
#   wamr/      WAMR 2.4.3 (core/ + build-scripts/) from the crate wamrx-sys 0.3.0 on crates.io
#   libsodium/ libsodium 1.0.20 sources from the PyNaCl 1.6.2 sdist on PyPI (board build only:
#              SHA-256, SHA-512 and Ed25519 verify; the POSIX port links Debian's libsodium)
#
# Idempotent: an archive already in third_party/cache with the right checksum is not downloaded
# again, and an extracted tree with a matching .stamp is left alone.
# WAMR_ROOT set in the environment: WAMR is not fetched (the build takes it from there).
# Exit status: 0 on success, 1 on a download or checksum failure (nothing half-extracted is left).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TP="$HERE/third_party"
CACHE="$TP/cache"
mkdir -p "$CACHE"

WAMR_CRATE_VERSION="0.3.0"
WAMR_CRATE_SHA256="ab9efc67ebd6c574684794e3a25933c58d2ad3f1b1078830f8c779974132e0d1"
WAMR_CRATE_URLS=(
  "https://static.crates.io/crates/wamrx-sys/wamrx-sys-${WAMR_CRATE_VERSION}.crate"
  "https://crates.io/api/v1/crates/wamrx-sys/${WAMR_CRATE_VERSION}/download"
)

PYNACL_VERSION="1.6.2"
PYNACL_SHA256="018494d6d696ae03c7e656e5e74cdfd8ea1326962cc401bcf018f1ed8436811c"
PYNACL_URLS=(
  "https://files.pythonhosted.org/packages/d9/9a/4019b524b03a13438637b11538c82781a5eda427394380381af8f04f467a/pynacl-${PYNACL_VERSION}.tar.gz"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch NAME SHA256 URL... : leaves $CACHE/NAME with the pinned checksum, or fails.
fetch() {
  local name="$1" want="$2"; shift 2
  local out="$CACHE/$name"
  if [[ -f "$out" && "$(sha256_of "$out")" == "$want" ]]; then return 0; fi
  local url
  for url in "$@"; do
    echo "fetch-deps: downloading $name from $url"
    if curl -fsSL --retry 2 -A "wasmfleet-firmware-host/fetch-deps" -o "$out.part" "$url"; then
      local got; got="$(sha256_of "$out.part")"
      if [[ "$got" == "$want" ]]; then mv "$out.part" "$out"; return 0; fi
      echo "fetch-deps: checksum mismatch for $name: got $got, pinned $want" >&2
    fi
    rm -f "$out.part"
  done
  echo "fetch-deps: could not obtain $name with SHA-256 $want" >&2
  return 1
}

# extract ARCHIVE DEST STAMP MEMBER_PREFIX STRIP : unpack only MEMBER_PREFIX into DEST.
extract() {
  local archive="$1" dest="$2" stamp="$3" member="$4" strip="$5"
  if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$stamp" ]]; then return 0; fi
  rm -rf "$dest" "$dest.tmp"; mkdir -p "$dest.tmp"
  tar -xzf "$archive" -C "$dest.tmp" --strip-components="$strip" "$member"
  echo "$stamp" > "$dest.tmp/.stamp"
  mv "$dest.tmp" "$dest"
}

if [[ -z "${WAMR_ROOT:-}" ]]; then
  fetch "wamrx-sys-$WAMR_CRATE_VERSION.crate" "$WAMR_CRATE_SHA256" "${WAMR_CRATE_URLS[@]}"
  extract "$CACHE/wamrx-sys-$WAMR_CRATE_VERSION.crate" "$TP/wamr" "$WAMR_CRATE_SHA256" \
    "wamrx-sys-$WAMR_CRATE_VERSION/wasm-micro-runtime" 2
  echo "fetch-deps: WAMR $(grep -h "set(WAMR_VERSION_\(MAJOR\|MINOR\|PATCH\)" "$TP/wamr/build-scripts/version.cmake" | grep -o '[0-9]*' | paste -sd.) in $TP/wamr"
else
  echo "fetch-deps: WAMR_ROOT=$WAMR_ROOT, not fetching WAMR"
fi

if [[ "${1:-}" == "--board" || "${1:-}" == "--all" ]]; then
  fetch "pynacl-$PYNACL_VERSION.tar.gz" "$PYNACL_SHA256" "${PYNACL_URLS[@]}"
  extract "$CACHE/pynacl-$PYNACL_VERSION.tar.gz" "$TP/libsodium" "$PYNACL_SHA256" \
    "pynacl-$PYNACL_VERSION/src/libsodium/src/libsodium" 5
  echo "fetch-deps: libsodium sources in $TP/libsodium"
fi
