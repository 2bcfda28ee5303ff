#!/usr/bin/env bash
# Run the web process and one local Celery worker together; Ctrl-C stops both.
set -euo pipefail
venv="${1:-.venv}" host="${2:-127.0.0.1}" port="${3:-8000}"

# One worker for every queue (training and evaluation included, on the CPU), with the beat
# schedule embedded (it reaps training runs whose worker went silent).
"$venv/bin/celery" -A config worker --queues celery,quality,gpu --concurrency 1 --loglevel INFO \
  --beat --schedule "${FINCH_HOME:-var}/celerybeat-schedule" &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

"$venv/bin/python" manage.py runserver "$host:$port" --noreload
