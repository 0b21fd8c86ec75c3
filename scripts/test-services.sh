#!/usr/bin/env bash
# Make sure what the tests need is on this machine: Chromium for the browser tests, espeak-ng,
# and a PostgreSQL server on 127.0.0.1. Installs Debian packages when missing (root or sudo), starts
# PostgreSQL when it is down, and prints the admin URL the tests should use on stdout.
set -euo pipefail

log() { echo "test-services: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else log "need root to run: $*"; return 1
  fi
}

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# Chromium drives the web page tests; DejaVu has the Arabic glyphs the RTL pages render;
# espeak-ng speaks the phrases the hallucination guard must drop.
apt_install chromium fonts-dejavu-core espeak-ng postgresql postgresql-client

url_ok() { psql "$1" -tAc 'select 1' >/dev/null 2>&1; }

URL="postgresql://postgres@127.0.0.1:5432/postgres"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi

if ! url_ok "$URL"; then
  # The system server is missing or wants a password: run a private throwaway cluster that
  # trusts local connections, as the postgres user (initdb refuses to run as root).
  PRIVATE=/tmp/rafiq-test-postgres
  PORT=55432
  URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
  if ! url_ok "$URL"; then
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    log "starting a private PostgreSQL cluster in $PRIVATE on port $PORT"
    as_root rm -rf "$PRIVATE"
    as_root install -d -o postgres -g postgres "$PRIVATE"
    as_root runuser -u postgres -- "$bindir/initdb" -D "$PRIVATE/data" -A trust -U postgres >&2
    as_root runuser -u postgres -- "$bindir/pg_ctl" -D "$PRIVATE/data" -l "$PRIVATE/log" -w \
      -o "-p $PORT -k $PRIVATE -c listen_addresses=127.0.0.1" start >&2
  fi
fi

url_ok "$URL" || { log "PostgreSQL is not reachable at $URL"; exit 1; }
log "PostgreSQL ready at $URL"
echo "postgresql+psycopg${URL#postgresql}"
