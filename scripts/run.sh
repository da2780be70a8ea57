#!/usr/bin/env bash
# `make run`: the portal and one Celery worker on the embedded defaults (SQLite, filesystem
# broker, local storage under var/). Ctrl-C stops both.
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

pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait || true; }
trap stop INT TERM EXIT

# One training at a time on its own queue; light jobs and the periodic sweep beside it.
# --quiet: no start-up banners, so the address and the admin login below stay on screen.
"$BIN/celery" -A portal --quiet worker --queues=training --concurrency=1 \
  --hostname="training@%h" --loglevel=INFO &
pids+=($!)
"$BIN/celery" -A portal --quiet worker --queues=celery,exports --pool=threads --concurrency=4 \
  --hostname="light@%h" --beat --schedule="$CV_DATA_DIR/celerybeat-schedule" --loglevel=INFO &
pids+=($!)
"$BIN/celery" -A portal --quiet worker --queues=imports --pool=threads --concurrency=4 \
  --hostname="imports@%h" --loglevel=INFO &
pids+=($!)
"$BIN/gunicorn" portal.wsgi --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --timeout 300 --access-logfile - --graceful-timeout 5 &
pids+=($!)

# Print the address and login once the portal answers, after the processes' own start-up
# lines, so they are the last thing on screen rather than scrolled away.
"$BIN/python" - "$PORT" <<'PY' || true
import sys, time, urllib.request
for _ in range(120):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/signin/", timeout=1)
        break
    except Exception:
        time.sleep(0.5)
time.sleep(1)
PY
echo
echo "  ┌──────────────────────────────────────────────────────────────"
echo "  │ Custom Vision is running at http://127.0.0.1:$PORT/"
echo "  │ $login"
echo "  │ Data lives in $CV_DATA_DIR. Press Ctrl-C to stop."
echo "  └──────────────────────────────────────────────────────────────"
echo
# Stop everything as soon as either process exits.
wait -n
