#!/usr/bin/env bash
# Back up Dekiru's PostgreSQL database in pg_dump's custom format (compressed, restorable table by table).
#
#   DATABASE_URL=postgres://… scripts/backup.sh [FILE]
#
# FILE defaults to $DEKIRU_BACKUP_DIR (default: the current directory)/dekiru-<UTC time>.dump. The dump is written
# beside its final name first and renamed only once pg_restore can read it, so a failed run never leaves a file
# that looks like a backup. It holds residents' personal data: it is created readable by its owner only, and with
# DEKIRU_BACKUP_KEEP_DAYS set, dumps in the backup directory older than that are deleted (so anonymised data does
# not live on in old backups longer than the city's policy allows). Prints the file's name.
# Uploaded media are not in the database: see docs/operations.md.
set -euo pipefail

url="${DATABASE_URL:?Set DATABASE_URL to the database to back up (postgres://user:password@host:port/name)}"
case "$url" in
  postgres://*|postgresql://*) ;;
  *) echo "backup.sh: DATABASE_URL is not a PostgreSQL URL" >&2; exit 2 ;;
esac
dir="${DEKIRU_BACKUP_DIR:-.}"
out="${1:-$dir/dekiru-$(date -u +%Y%m%dT%H%M%SZ).dump}"

umask 077
mkdir -p "$(dirname "$out")"
partial="$out.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --compress=6 --dbname="$url" --file="$partial"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$out"
trap - EXIT

if [ -z "${1:-}" ] && [ -n "${DEKIRU_BACKUP_KEEP_DAYS:-}" ]; then
  find "$dir" -maxdepth 1 -name 'dekiru-*.dump' -type f -mtime "+$DEKIRU_BACKUP_KEEP_DAYS" -delete
fi
echo "$out"
