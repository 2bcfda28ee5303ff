#!/usr/bin/env bash
# Run the web process and two local Celery workers together; Ctrl-C stops all three.
set -euo pipefail
venv="${1:-.venv}" host="${2:-127.0.0.1}" port="${3:-8000}"
here="$(dirname "$0")"

# A taken port is one clear line and exit 1, before the workers start (not runserver's failure
# after it, which make reports as "Error 143").
bash "$here/check_port.sh" "$host" "$port" || exit 1

# The workers' logs (their INFO lines, the broker's notices) go to files, not the console.
home="${FINCH_HOME:-var}"
logs="$home/log"
mkdir -p "$logs"
echo "Worker logs: $logs/worker.log (imports, exports, freezes, dedup; beat)," \
  "$logs/worker-gpu.log (training, evaluation, suggestions)"

# Two workers, so that a short job never waits behind a training or an evaluation that holds a
# worker for minutes: one for `celery` and `quality` with the beat schedule embedded (it reaps
# jobs and runs whose worker went silent; beat must run once), one for `gpu` alone. Distinct node
# names: workers with the same name would share one control queue in the file broker.
"$venv/bin/celery" -A config worker --hostname "finch@%h" --queues celery,quality \
  --concurrency 1 --loglevel INFO --beat --schedule "$home/celerybeat-schedule" \
  >>"$logs/worker.log" 2>&1 &
worker=$!
"$venv/bin/celery" -A config worker --hostname "finch-gpu@%h" --queues gpu \
  --concurrency 1 --loglevel INFO >>"$logs/worker-gpu.log" 2>&1 &
gpu_worker=$!
# The web process in the background too, waited for: bash runs a trap only once the foreground
# command ends, so a SIGTERM to this script (or to make) would otherwise stop nothing.
"$venv/bin/python" manage.py runserver "$host:$port" --noreload &
web=$!
# Every exit stops all three; the workers' status (143 after SIGTERM) is not the script's.
trap 'kill "$web" "$worker" "$gpu_worker" 2>/dev/null; wait "$web" "$worker" "$gpu_worker" 2>/dev/null || true' EXIT INT TERM
wait "$web"
