#!/usr/bin/env bash
# Fetch the third-party C sources the firmware host builds from, at pinned versions with pinned
# SHA-256 checksums, into firmware-host/third_party/ (git-ignored; never committed).
#
#   wamr/      WAMR 2.4.3 (core/ + build-scripts/) from the crate wamrx-sys 0.3.0 (via cargo)
#   libsodium/ libsodium 1.0.20 sources from the PyNaCl 1.6.2 sdist (via pip; board build only:
#              SHA-256, SHA-512 and Ed25519 verify; the POSIX port links Debian's libsodium)
#
# Both come through the registries' own clients (cargo, pip), and both are checked against the
# SHA-256 pinned below before anything is extracted.
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
PYNACL_VERSION="1.6.2"
PYNACL_SHA256="018494d6d696ae03c7e656e5e74cdfd8ea1326962cc401bcf018f1ed8436811c"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Keep $CACHE/NAME when it has the pinned checksum; otherwise remove it. Returns 0 when kept.
cached() {
  local out="$CACHE/$1" want="$2"
  [[ -f "$out" && "$(sha256_of "$out")" == "$want" ]] && return 0
  rm -f "$out"
  return 1
}

# Move a downloaded file into the cache after checking its pinned SHA-256.
accept() {
  local got_file="$1" name="$2" want="$3" got
  got="$(sha256_of "$got_file")"
  if [[ "$got" != "$want" ]]; then
    echo "fetch-deps: checksum mismatch for $name: got $got, pinned $want" >&2
    return 1
  fi
  cp "$got_file" "$CACHE/$name.part" && mv "$CACHE/$name.part" "$CACHE/$name"
}

# The crate through cargo, the registry's own client: `cargo info` downloads the .crate into
# CARGO_HOME's registry cache to read it (cargo >= 1.82). A private CARGO_HOME under the cache
# keeps the user's own cargo state out of it.
fetch_crate() {
  local crate="$1" version="$2" want="$3" name="$1-$2.crate" home="$CACHE/cargo-home" found
  cached "$name" "$want" && return 0
  # rustup installs cargo under ~/.cargo/bin, which a non-login shell may not have on its PATH.
  command -v cargo >/dev/null 2>&1 || PATH="$PATH:${HOME:-/root}/.cargo/bin"
  command -v cargo >/dev/null 2>&1 || { echo "fetch-deps: cargo not found (needed to fetch $name)" >&2; return 1; }
  echo "fetch-deps: fetching $crate $version with cargo"
  CARGO_HOME="$home" cargo info --quiet "$crate@$version" >/dev/null 2>&1 || true
  found="$(find "$home/registry/cache" -name "$name" 2>/dev/null | head -n 1)"
  [[ -n "$found" ]] || { echo "fetch-deps: cargo did not download $name" >&2; return 1; }
  accept "$found" "$name" "$want"
}

# The sdist through pip, PyPI's own client (sources only, no dependencies).
fetch_sdist() {
  local project="$1" version="$2" want="$3" name="$1-$2.tar.gz" tmp
  cached "$name" "$want" && return 0
  command -v python3 >/dev/null 2>&1 || { echo "fetch-deps: python3 not found (needed to fetch $name)" >&2; return 1; }
  echo "fetch-deps: fetching $project $version with pip"
  tmp="$(mktemp -d)"
  if ! python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp" "$project==$version" >/dev/null 2>&1 \
      || [[ ! -f "$tmp/$name" ]]; then
    rm -rf "$tmp"
    echo "fetch-deps: pip did not download $name" >&2
    return 1
  fi
  accept "$tmp/$name" "$name" "$want" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
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
  fetch_crate wamrx-sys "$WAMR_CRATE_VERSION" "$WAMR_CRATE_SHA256"
  extract "$CACHE/wamrx-sys-$WAMR_CRATE_VERSION.crate" "$TP/wamr" "$WAMR_CRATE_SHA256" \
    "wamrx-sys-$WAMR_CRATE_VERSION/wasm-micro-runtime" 2
  echo "fetch-deps: WAMR $(grep -h "set(WAMR_VERSION_\(MAJOR\|MINOR\|PATCH\)" "$TP/wamr/build-scripts/version.cmake" | grep -o '[0-9]*' | paste -sd.) in $TP/wamr"
else
  echo "fetch-deps: WAMR_ROOT=$WAMR_ROOT, not fetching WAMR"
fi

if [[ "${1:-}" == "--board" || "${1:-}" == "--all" ]]; then
  fetch_sdist pynacl "$PYNACL_VERSION" "$PYNACL_SHA256"
  extract "$CACHE/pynacl-$PYNACL_VERSION.tar.gz" "$TP/libsodium" "$PYNACL_SHA256" \
    "pynacl-$PYNACL_VERSION/src/libsodium/src/libsodium" 5
  echo "fetch-deps: libsodium sources in $TP/libsodium"
fi
