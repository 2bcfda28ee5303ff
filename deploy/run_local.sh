#!/usr/bin/env bash
# Run the web process and one local Celery worker together; Ctrl-C stops both.
set -euo pipefail
venv="${1:-.venv}" host="${2:-127.0.0.1}" port="${3:-8000}"
here="$(dirname "$0")"

# A taken port is one clear line and exit 1, before the worker starts (not runserver's failure
# after it, which make reports as "Error 143").
bash "$here/check_port.sh" "$host" "$port" || exit 1

# The worker's logs (its INFO lines, the broker's notices) go to a file, not the console.
logs="${FINCH_HOME:-var}/log"
mkdir -p "$logs"
echo "Worker logs: $logs/worker.log"

# One worker for every queue (training and evaluation included, on the CPU), with the beat
# schedule embedded (it reaps training runs whose worker went silent).
"$venv/bin/celery" -A config worker --queues celery,quality,gpu --concurrency 1 --loglevel INFO \
  --beat --schedule "${FINCH_HOME:-var}/celerybeat-schedule" >>"$logs/worker.log" 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

"$venv/bin/python" manage.py runserver "$host:$port" --noreload
