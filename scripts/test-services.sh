#!/usr/bin/env bash
# Make sure what the tests need is on this machine: Chromium for the browser tests, espeak-ng,
# a PostgreSQL server and a Redis server on 127.0.0.1. Installs Debian packages when missing (root or
# sudo), starts PostgreSQL and Redis when they are down, and prints on stdout the environment the
# tests need, one VARIABLE=value a line (RAFIQ_TEST_POSTGRES_URL, RAFIQ_TEST_REDIS_URL).
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
apt_install chromium fonts-dejavu-core espeak-ng postgresql postgresql-client redis-server

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

# Redis for the cluster tests (tests/test_cluster.py): the one on 6379, or a private one started
# on a free port (no persistence: the tests' keys are throwaway).
REDIS_PORT=6379
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log "starting a private Redis on port $REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --logfile /tmp/rafiq-test-redis.log >&2
  for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 || { log "Redis is not reachable on port $REDIS_PORT"; exit 1; }
log "Redis ready on port $REDIS_PORT"

echo "RAFIQ_TEST_POSTGRES_URL=postgresql+psycopg${URL#postgresql}"
echo "RAFIQ_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
