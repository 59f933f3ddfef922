#!/usr/bin/env bash
# Start a PostgreSQL server (Debian's packages) on loopback and print its SQLAlchemy URL:
# throwaway for the Optuna storage tests, or the store of scripts/start-mlflow-server.sh.
# Usage: scripts/start-postgres.sh DIR PORT. A DIR that already holds a database cluster
# is started again as it is (nothing re-initialised). Stop it with: pg_ctl -D DIR stop
# PG_MAX_CONNECTIONS (default 100, PostgreSQL's) sets how many clients it accepts.
set -euo pipefail
dir=${1:?data directory}; port=${2:-54329}; max_connections=${PG_MAX_CONNECTIONS:-100}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed: run scripts/install-system-deps.sh" >&2; exit 1; }
mkdir -p "$dir"
as_owner=()
if [ "$(id -u)" -eq 0 ]; then   # postgres refuses to run as root
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
fresh=0
if [ ! -f "$dir/PG_VERSION" ]; then
  "${as_owner[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
  fresh=1
fi
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=$max_connections" start >/dev/null
if [ "$fresh" -eq 1 ]; then
  "${as_owner[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres spinerisk
fi
echo "postgresql+psycopg2://postgres@127.0.0.1:$port/spinerisk"
