"""gunicorn's settings for the web tier (Dockerfile, compose and the k8s web pod all use them:
`gunicorn -c config/gunicorn_conf.py config.wsgi`). Why these values: docs/operations.md,
"The web server and long downloads".

Threaded workers: a request that takes long (a large download to a slow client) holds one
thread while the worker process keeps answering the arbiter, so `timeout` only restarts a
worker that is truly stuck, never one that is busy sending a file. A sync worker would be
killed mid-download at `timeout` and the client would keep a file cut at a whole line.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A worker that has not answered the arbiter for this long is stuck: restart it. Requests
# themselves are bounded by the application (the streaming export refuses what it cannot send
# within a quarter of this; larger exports are jobs whose files are served from storage).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# On a deploy, running downloads get this long to finish before their worker is stopped.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "300"))
keepalive = 5
# Export files go out through wsgi.file_wrapper: sendfile(2) from the page cache, no Python loop.
sendfile = True
accesslog = "-"
