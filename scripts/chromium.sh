#!/usr/bin/env bash
# Headless Chromium for the book's real-browser check (cxrlib.book.browser_check).
#
#   scripts/chromium.sh install   # apt-get install Debian's chromium when it is missing (root)
#   scripts/chromium.sh path      # print the browser's path (exit 3 when there is none)
#
# Exit status 3: Chromium is missing and could not be installed.
set -euo pipefail

find_chromium() {
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

install_chromium() {
  if find_chromium >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium.sh: Chromium is missing and apt-get as root is not available" >&2
    return 3
  fi
  echo "chromium.sh: installing Debian's chromium with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get install -y -q --no-install-recommends chromium >&2 \
         || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends chromium >&2; }; }; then
    echo "chromium.sh: apt-get install chromium failed" >&2
    return 3
  fi
  find_chromium >/dev/null || { echo "chromium.sh: chromium installed but not found on PATH" >&2; return 3; }
}

cmd="${1:-}"
case "$cmd" in
  install)
    install_chromium
    ;;
  path)
    find_chromium || { echo "chromium.sh: no Chromium on PATH" >&2; exit 3; }
    ;;
  *)
    echo "usage: scripts/chromium.sh install | path" >&2
    exit 2
    ;;
esac
