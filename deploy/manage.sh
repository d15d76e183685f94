#!/usr/bin/env bash
# manage.py with the production environment: deploy/manage.sh send_reminders, deploy/manage.sh createsuperuser
set -euo pipefail
exec "$(dirname "$0")/with-env.sh" .venv/bin/python manage.py "$@"
