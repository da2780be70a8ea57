#!/usr/bin/env bash
# `make run`: the portal and its workers on the embedded defaults (SQLite, filesystem broker,
# local storage under var/). scripts/supervise.py keeps each process up (a worker that dies is
# started again, the portal stays up) and Ctrl-C stops them all within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export CV_DATA_DIR="${CV_DATA_DIR:-$PWD/var}"
PORT="${PORT:-8000}"
mkdir -p "$CV_DATA_DIR"
if [ -z "${SECRET_KEY:-}" ] && [ ! -s "$CV_DATA_DIR/secret_key" ]; then
  (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(50))' \
    > "$CV_DATA_DIR/secret_key")
fi

"$BIN/python" manage.py migrate --noinput
"$BIN/python" manage.py collectstatic --noinput --verbosity 0
login="$("$BIN/python" manage.py ensureadmin)"

command() { printf '%q ' "$@"; }
# One training at a time on its own queue; exports and the periodic sweeps beside it; imports
# on a worker of their own. --quiet: no start-up banners, so the address and the login stay on
# screen.
exec "$BIN/python" scripts/supervise.py \
  --process "training worker" "$(command "$BIN/celery" -A portal --quiet worker \
    --queues=training --concurrency=1 --hostname="training@%h" --loglevel=INFO)" \
  --process "light worker" "$(command "$BIN/celery" -A portal --quiet worker \
    --queues=celery,exports --pool=threads --concurrency=4 --hostname="light@%h" \
    --beat --schedule="$CV_DATA_DIR/celerybeat-schedule" --loglevel=INFO)" \
  --process "imports worker" "$(command "$BIN/celery" -A portal --quiet worker \
    --queues=imports --pool=threads --concurrency=4 --hostname="imports@%h" --loglevel=INFO)" \
  --process "web server" "$(command "$BIN/gunicorn" portal.wsgi --bind "127.0.0.1:$PORT" \
    --workers 2 --threads 4 --timeout 300 --access-logfile - --graceful-timeout 5)" \
  --ready-url "http://127.0.0.1:$PORT/signin/" \
  --ready-file "$CV_DATA_DIR/training-worker.warm" \
  --banner "Custom Vision is running at http://127.0.0.1:$PORT/" \
  --banner "$login" \
  --banner "Data lives in $CV_DATA_DIR. Press Ctrl-C to stop."
