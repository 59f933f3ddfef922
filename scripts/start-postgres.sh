#!/usr/bin/env bash
# Start a throwaway PostgreSQL server (Debian's packages) on loopback for the Optuna
# storage tests, and print its SQLAlchemy URL. Usage: scripts/start-postgres.sh DIR PORT
# Stop it with: pg_ctl -D DIR stop (the test fixture does).
set -euo pipefail
dir=${1:?data directory}; port=${2:-54329}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed: run scripts/install-system-deps.sh" >&2; exit 1; }
mkdir -p "$dir"
as_owner=()
if [ "$(id -u)" -eq 0 ]; then   # postgres refuses to run as root
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
"${as_owner[@]}" "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
"${as_owner[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres spinerisk
echo "postgresql+psycopg2://postgres@127.0.0.1:$port/spinerisk"
