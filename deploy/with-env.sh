#!/usr/bin/env bash
# Run a command in the app's directory with the production environment, as cron does:
#   deploy/with-env.sh scripts/backup.sh
#   deploy/with-env.sh .venv/bin/python manage.py showmigrations
# DEKIRU_ENV_FILE (default /etc/dekiru/dekiru.env) is read as KEY=value lines, as systemd's EnvironmentFile is.
set -euo pipefail
app="$(cd "$(dirname "$0")/.." && pwd)"
env_file="${DEKIRU_ENV_FILE:-/etc/dekiru/dekiru.env}"
set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
cd "$app"
exec "$@"
