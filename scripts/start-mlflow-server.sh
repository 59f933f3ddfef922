#!/usr/bin/env bash
# Start a team MLflow tracking server: runs, metrics and the model registry in PostgreSQL
# (Debian's packages, via scripts/start-postgres.sh), artifacts (models, plots) in
# DIR/artifacts, uploaded and downloaded through the server itself, so that clients need
# only its URL. Prints the tracking URI once the server answers.
#
# Usage: scripts/start-mlflow-server.sh DIR [PORT] [PG_PORT] [HOST] [-- mlflow server options]
#   DIR      state folder (DIR/postgres, DIR/artifacts, DIR/mlflow.log, DIR/mlflow.pid);
#            an existing DIR is started again with its runs and models
#   PORT     tracking server port (default 5000); PG_PORT PostgreSQL port (default 54329)
#   HOST     interface to bind (default 127.0.0.1, this machine only; a team on a private
#            network uses 0.0.0.0 plus e.g. -- --allowed-hosts 'host.lan:5000')
# Env: MLFLOW the mlflow executable (default: mlflow on PATH, e.g. .venv/bin/mlflow),
#      MLFLOW_WORKERS server processes (default 2)
# Stop: kill -- -"$(cat DIR/mlflow.pid)" (its process group); pg_ctl -D DIR/postgres stop (as user postgres if root)
set -euo pipefail
dir=${1:?state directory}; port=${2:-5000}; pg_port=${3:-54329}; host=${4:-127.0.0.1}
shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
mlflow_bin=${MLFLOW:-mlflow}
command -v "$mlflow_bin" >/dev/null || { echo "mlflow not found: set MLFLOW=.venv/bin/mlflow" >&2; exit 1; }
mkdir -p "$dir/artifacts"
dir=$(cd "$dir" && pwd)
if [ "$(id -u)" -eq 0 ]; then   # postgres then runs as user postgres: it must reach DIR
  chmod o+x "$dir"
  runuser -u postgres -- test -x "$dir" || { echo "user postgres cannot reach $dir: \
choose a DIR whose parent folders others may enter (chmod o+x), e.g. under /srv" >&2; exit 1; }
fi
here=$(cd "$(dirname "$0")" && pwd)
store=$(bash "$here/start-postgres.sh" "$dir/postgres" "$pg_port")
# mlflow's GenAI job runner (a dozen worker processes, ~1 GB) serves nothing spinerisk logs
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
setsid nohup "$mlflow_bin" server --backend-store-uri "$store" \
  --artifacts-destination "$dir/artifacts" --serve-artifacts \
  --host "$host" --port "$port" --workers "${MLFLOW_WORKERS:-2}" "$@" \
  >"$dir/mlflow.log" 2>&1 &
echo $! >"$dir/mlflow.pid"   # setsid: also the id of its process group
probe=$([ "$host" = "0.0.0.0" ] && echo 127.0.0.1 || echo "$host")
for _ in $(seq 240); do   # first start creates the schema: allow two minutes
  if ! kill -0 "$(cat "$dir/mlflow.pid")" 2>/dev/null; then
    echo "mlflow server exited; its log ($dir/mlflow.log) ends:" >&2; tail -n 20 "$dir/mlflow.log" >&2; exit 1
  fi
  if (exec 3<>"/dev/tcp/$probe/$port") 2>/dev/null; then
    echo "http://$probe:$port"; exit 0
  fi
  sleep 0.5
done
echo "mlflow server did not answer on $probe:$port within 2 minutes; see $dir/mlflow.log" >&2
exit 1
