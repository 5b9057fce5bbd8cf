#!/bin/sh
# Container start-up for notes-api.
#
# With no arguments: migrate the database, create the first administrator if
# ADMIN_USERNAME and ADMIN_PASSWORD are set, then replace this shell with the
# server, so that it is PID 1 and receives SIGTERM for a graceful shutdown.
# With arguments, run them instead (`docker compose run --rm api notes-api users`).
#
# Several containers may start at once: `notes-api migrate` holds a PostgreSQL
# advisory lock while it upgrades, so one migrates and the others wait, then find
# the schema at head; `ensure-admin` creates the user once.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

notes-api migrate

if [ -n "${ADMIN_USERNAME:-}" ]; then
    if [ -z "${ADMIN_PASSWORD:-}" ]; then
        echo "error: ADMIN_USERNAME is set but ADMIN_PASSWORD is not" >&2
        exit 1
    fi
    # printf is a shell builtin: the password goes through a pipe, never onto a command line.
    printf '%s\n' "$ADMIN_PASSWORD" | notes-api ensure-admin "$ADMIN_USERNAME" --password-stdin
fi
# The server has no use for it; keep it out of the server's environment.
unset ADMIN_PASSWORD

exec notes-api serve --host 0.0.0.0 --port "${PORT:-8000}"
