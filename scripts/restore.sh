#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh into the database of DATABASE_URL.
#
#   DATABASE_URL=postgres://…/dekiru_restored scripts/restore.sh [--clean] FILE
#
# Restores into an existing, empty database (createdb it first) in one transaction: all or nothing. A database that
# already has tables is refused unless --clean is given, which drops the objects in the dump before re-creating
# them (the usual way is to restore into a new database and point DATABASE_URL at it: see docs/operations.md).
# Ownership and grants of the original server are not restored: the objects belong to DATABASE_URL's user.
set -euo pipefail

clean=()
if [ "${1:-}" = "--clean" ]; then clean=(--clean --if-exists); shift; fi
dump="${1:?usage: scripts/restore.sh [--clean] FILE}"
url="${DATABASE_URL:?Set DATABASE_URL to the database to restore into (postgres://user:password@host:port/name)}"
case "$url" in
  postgres://*|postgresql://*) ;;
  *) echo "restore.sh: DATABASE_URL is not a PostgreSQL URL" >&2; exit 2 ;;
esac

pg_restore --list "$dump" >/dev/null
tables="$(psql --dbname="$url" --no-psqlrc --tuples-only --no-align --quiet \
  --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
if [ "$tables" != "0" ] && [ ${#clean[@]} -eq 0 ]; then
  echo "restore.sh: the database already has $tables tables; restore into an empty database or pass --clean" >&2
  exit 1
fi
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges "${clean[@]}" --dbname="$url" "$dump"
# pg_restore does not restore planner statistics.
psql --dbname="$url" --no-psqlrc --quiet --command="ANALYZE"
echo "restored $dump"
