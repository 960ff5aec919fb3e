# Sourced by scripts/chromium.sh and scripts/postgres.sh: install a Debian package for a tool that is missing.
#
#   apt_install WHO PACKAGE WHAT FOUND_CMD...
#     WHO: the calling script's name for messages; PACKAGE: the Debian package; WHAT: what is missing, in
#     words; FOUND_CMD: a command that succeeds once the tool is there (checked before and after).
# Returns 0 when the tool is there (already, or after apt-get install), 3 when it is missing and could not
# be installed (not root, no apt-get, or apt-get failed).

apt_install() {
  local who="$1" package="$2" what="$3"
  shift 3
  if "$@" >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: $what is missing and apt-get as root is not available" >&2
    return 3
  fi
  echo "$who: installing Debian's $package with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get install -y -q --no-install-recommends "$package" >&2 \
         || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$package" >&2; }; }; then
    echo "$who: apt-get install $package failed" >&2
    return 3
  fi
  "$@" >/dev/null || { echo "$who: $package installed but $what not found" >&2; return 3; }
}
