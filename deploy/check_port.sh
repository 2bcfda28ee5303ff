#!/usr/bin/env bash
# Exit 0 when HOST:PORT is free to serve on; else say so in one line (and how to pick another
# port) and exit 1. `make run` calls it first, before any setup, migration or demo work.
set -uo pipefail
host="${1:-127.0.0.1}" port="${2:-8000}"

if ! [[ "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    echo "PORT must be a number from 1 to 65535, not '$port'." >&2
    exit 2
fi
# Binding is the test: it fails while any process listens on the port (SO_REUSEADDR only lets a
# new server past the previous one's closing connections, as runserver does).
if ! python3 - "$host" "$port" 2>/dev/null <<'PY'; then
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind((host, port))
PY
    echo "Port $port is taken on $host; run \`make run PORT=$((port + 1))\` (or stop what is using it)." >&2
    exit 1
fi
