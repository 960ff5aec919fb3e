#!/usr/bin/env bash
# Headless Chromium for the book's real-browser check (cxrlib.book.browser_check).
#
#   scripts/chromium.sh install   # apt-get install Debian's chromium when it is missing (root)
#   scripts/chromium.sh path      # print the browser's path (exit 3 when there is none)
#
# Exit status 3: Chromium is missing and could not be installed.
set -euo pipefail
# shellcheck source=scripts/apt.sh
source "$(dirname "$0")/apt.sh"

find_chromium() {
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

install_chromium() {
  apt_install chromium.sh chromium "Chromium" find_chromium
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
