#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for sweep studies (tests, a single-machine try-out of the
# cluster set-up). Not for production: trust authentication, data in a temporary folder.
#
#   scripts/postgres.sh install            # apt-get install postgresql when initdb/pg_ctl are missing (root)
#   scripts/postgres.sh start DIR [PORT]   # initdb + pg_ctl start in DIR (default port: a free one);
#                                          # prints the URL (also written to DIR/url); database "optuna"
#   scripts/postgres.sh stop DIR           # pg_ctl stop (fast) — DIR stays, remove it yourself
#
# PostgreSQL refuses to run as root: as root the server runs as the user "postgres" (runuser / su),
# and DIR is handed to that user. Exit status 3: PostgreSQL is missing and could not be installed.
set -euo pipefail
# shellcheck source=scripts/apt.sh
source "$(dirname "$0")/apt.sh"

find_bin() {
  local dir
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

install_pg() {
  apt_install postgres.sh postgresql "PostgreSQL (initdb, pg_ctl)" find_bin
}

as_owner() {  # run a command as the server's user
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'EOF' 2>/dev/null || echo 55432
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
EOF
}

cmd="${1:-}"
case "$cmd" in
  install)
    install_pg
    ;;
  start)
    dir="${2:?usage: postgres.sh start DIR [PORT]}"
    port="${3:-$(free_port)}"
    install_pg
    bin="$(find_bin)"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh postgres
      chown -R postgres "$dir"
      chmod 755 "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off" start >&2 \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres optuna
    url="postgresql://postgres@127.0.0.1:$port/optuna"
    echo "$url" > "$dir/url"
    echo "$url"
    ;;
  stop)
    dir="${2:?usage: postgres.sh stop DIR}"
    bin="$(find_bin)"
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
    fi
    ;;
  *)
    echo "usage: scripts/postgres.sh install | start DIR [PORT] | stop DIR" >&2
    exit 2
    ;;
esac
