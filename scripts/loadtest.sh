#!/usr/bin/env bash
# Load test of Dekiru against gunicorn (4 workers per instance) and PostgreSQL on this machine (issue 8, "Load").
# Figures and how to read them: docs/benchmarks.md. The user classes: loadtest/locustfile.py.
#
#   scripts/loadtest.sh                 # every scenario: burst, two instances, browsing (demo data, bench data)
#   scripts/loadtest.sh burst two       # only some: burst | two | browse-demo | browse-bench | ratios
#
# Scenarios (each locust run is at most two minutes):
#   burst         1,000 residents register for 10 sessions of 20 seats within one minute, one gunicorn instance
#   two           the same burst split over two gunicorn instances (ports 8101 and 8102), one PostgreSQL
#   browse-demo   50 users browsing (home, listing with filters, course pages, calendar feed), demo data
#   browse-bench  the same against the bench data (database benchdb, 50,000 sessions), read-only
#   ratios        issue 18's side-by-side ratios on one gunicorn (loadtest/ratios.py, needs wrk and pgbench):
#                 /classes/ and a course page ÷ /healthz, whole registrations over HTTP ÷ pgbench running the same
#                 transaction (loadtest/registration.pgbench); not part of the default list, run it on its own
#
# Databases: `loadtest` (created, migrated and seeded with `manage.py seed_demo` here; each burst adds a new run of
# 10 sessions with `manage.py loadtest_prepare`) and `benchdb` (seeded beforehand with `manage.py bench_seed`;
# only read: its connections are opened with default_transaction_read_only=on, so any write would fail loudly).
#
# Settings: cms.settings.production from the environment below. The cache is a private Redis (REDIS_URL) started
# here, one Redis database per PostgreSQL database: the default database cache would write cache rows into benchdb.
# No e-mail leaves the machine: registrations only queue messages in the outbox (no worker runs) and the e-mail
# backend is the console. The registration rate limit (per client address; the whole test comes from 127.0.0.1)
# is raised, not switched off, so its counting is part of the measured cost.
#
# Environment: LOADTEST_OUT (results, default /tmp/dekiru-loadtest), PGURL (default
# postgres://postgres@127.0.0.1:5432), LOADTEST_RESIDENTS (1000), LOADTEST_SPAWN_RATE (25 residents/s),
# LOADTEST_BROWSE_USERS (50), LOADTEST_BROWSE_TIME (60s), PORT_A/PORT_B (8101/8102), REDIS_PORT (6391),
# LOADTEST_RATIO_SECONDS (15 per measurement), LOADTEST_RATIO_CONCURRENCY (8 connections or clients).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
OUT=${LOADTEST_OUT:-/tmp/dekiru-loadtest}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PORT_A=${PORT_A:-8101}
PORT_B=${PORT_B:-8102}
REDIS_PORT=${REDIS_PORT:-6391}
RESIDENTS=${LOADTEST_RESIDENTS:-1000}
SPAWN_RATE=${LOADTEST_SPAWN_RATE:-25}
BROWSE_USERS=${LOADTEST_BROWSE_USERS:-50}
BROWSE_TIME=${LOADTEST_BROWSE_TIME:-60s}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(burst two browse-demo browse-bench)

mkdir -p "$OUT"
PIDS=()

export DJANGO_SETTINGS_MODULE=cms.settings.production
export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-$($PY -c 'import secrets; print(secrets.token_urlsafe(50))')}
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DJANGO_SECURE_SSL_REDIRECT=0
export DEKIRU_BASE_URL=https://localhost
export DJANGO_EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend
export DJANGO_STATIC_ROOT=$OUT/static
export DJANGO_LOG_LEVEL=${DJANGO_LOG_LEVEL:-WARNING}
export DEKIRU_RATE_LIMIT_REGISTRATION=1000000/m
# gunicorn.conf.py recycles a worker after 1,000 requests (GUNICORN_MAX_REQUESTS, a guard against slow leaks): at
# /healthz's 1,000 requests a second that is all four workers booting again every few seconds, and a run measures
# boots, not requests. Off here, for every scenario alike.
export GUNICORN_MAX_REQUESTS=${GUNICORN_MAX_REQUESTS:-0}
unset SENDGRID_API_KEY

log() { printf '\n== %s\n' "$*" >&2; }

stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT

stop_pid() {  # stop one process started here, and forget it
  local pid=$1 rest=()
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && rest+=("$p"); done
  PIDS=("${rest[@]}")
}

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
    >"$OUT/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "Redis did not start (see $OUT/redis.log)" >&2; exit 1
}

warm_up() {  # a few requests of each kind, in parallel, so that every worker has loaded its code and templates
  local port=$1 path curls
  for _ in 1 2 3 4 5 6; do
    curls=()
    for path in / /classes/ /courses/ /calendar/sessions.ics; do
      curl -fs -o /dev/null -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$port$path" &
      curls+=($!)
    done
    wait "${curls[@]}" || true
  done
}

# start_gunicorn NAME PORT DATABASE REDIS_DB [read-only] → sets GUNICORN_PID
start_gunicorn() {
  local name=$1 port=$2 database=$3 redis_db=$4 readonly=${5:-} config=()
  # The repository's gunicorn.conf.py when there is one (deployment settings); workers and address from here.
  [ -f "$ROOT/gunicorn.conf.py" ] && config=(-c "$ROOT/gunicorn.conf.py")
  (
    export DATABASE_URL=$PGURL/$database REDIS_URL=redis://127.0.0.1:$REDIS_PORT/$redis_db
    [ -n "$readonly" ] && export PGOPTIONS="-c default_transaction_read_only=on"
    exec "$ROOT/.venv/bin/gunicorn" "${config[@]}" cms.wsgi:application --workers 4 --bind "127.0.0.1:$port" \
      --timeout 60 --error-logfile "$OUT/gunicorn-$name.log" --capture-output
  ) &
  GUNICORN_PID=$!
  PIDS+=("$GUNICORN_PID")
  for _ in $(seq 120); do
    if curl -fs -o /dev/null -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$port/"; then
      echo "gunicorn $name: http://127.0.0.1:$port/ ($database, pid $GUNICORN_PID)" >&2
      warm_up "$port"
      return
    fi
    sleep 0.5
  done
  echo "gunicorn $name did not answer (see $OUT/gunicorn-$name.log)" >&2; exit 1
}

manage() {  # manage.py against a database: manage DATABASE args…
  local database=$1; shift
  DATABASE_URL=$PGURL/$database REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 "$PY" manage.py "$@"
}

# run_locust NAME USER_CLASS USERS SPAWN_RATE RUN_TIME [VAR=VALUE…] (extra environment for the locustfile)
run_locust() {
  local name=$1 class=$2 users=$3 rate=$4 time=$5; shift 5
  log "locust $name: $class, $users users, spawn $rate/s, at most $time"
  echo "before: $(uptime)" >"$OUT/${name}_load.txt"
  env "$@" LOADTEST_SUMMARY="$OUT/${name}_summary.json" "$ROOT/.venv/bin/locust" -f loadtest/locustfile.py \
    --headless --users "$users" --spawn-rate "$rate" --run-time "$time" --stop-timeout 30 \
    --csv "$OUT/$name" --only-summary --loglevel WARNING "$class" >"$OUT/${name}_locust.txt" 2>&1 || true
  echo "after:  $(uptime)" >>"$OUT/${name}_load.txt"
  tail -n 40 "$OUT/${name}_locust.txt" >&2
}

# burst NAME HOSTS: prepare a new run of sessions, send the residents, check the database.
burst() {
  local name=$1 hosts=$2
  # The unloaded baseline of the same requests: 60 residents, two a second, on sessions of their own (120 answers:
  # with 40, the median moved between 20 and 29 ms from run to run). The figure of issue 18 is the burst's p95 of
  # all answers ÷ this p50 (loadtest/report.py prints it).
  manage loadtest loadtest_prepare --sessions 10 --capacity 20 --output "$OUT/${name}-unloaded_run.json"
  run_locust "${name}-unloaded" Resident 60 2 60s LOADTEST_HOSTS="$hosts" \
    LOADTEST_TARGETS="$OUT/${name}-unloaded_run.json" LOADTEST_RESIDENTS=60 LOADTEST_DOUBLE_SUBMIT_EVERY=0
  manage loadtest loadtest_prepare --sessions 10 --capacity 20 --output "$OUT/${name}_run.json"
  run_locust "$name" Resident "$RESIDENTS" "$SPAWN_RATE" 120s LOADTEST_HOSTS="$hosts" \
    LOADTEST_TARGETS="$OUT/${name}_run.json" LOADTEST_RESIDENTS="$RESIDENTS"
  log "$name: database check"
  manage loadtest loadtest_prepare --check "$OUT/${name}_run.json" --expected-people "$RESIDENTS" \
    >"$OUT/${name}_check.txt" 2>&1 || true
  # The same in plain SQL: seats per session (must be 20 each), active duplicates (must be none).
  local ids
  ids=$("$PY" -c 'import json,sys; print(",".join(str(s["id"]) for s in json.load(open(sys.argv[1]))["sessions"]))' \
    "$OUT/${name}_run.json")
  psql "$PGURL/loadtest" -X -A -F ' ' -t >"$OUT/${name}_sql.txt" <<SQL
SELECT 'session', s.id, s.capacity,
       count(r.id) FILTER (WHERE r.status IN ('confirmed', 'attended', 'no_show')) AS confirmed,
       count(r.id) FILTER (WHERE r.status = 'waitlisted') AS waitlisted
  FROM courses_session s LEFT JOIN courses_registration r ON r.session_id = s.id
 WHERE s.id IN ($ids) GROUP BY s.id, s.capacity ORDER BY s.id;
SELECT 'duplicates', count(*) FROM (
  SELECT session_id, participant_id FROM courses_registration
   WHERE session_id IN ($ids) AND status <> 'cancelled' GROUP BY 1, 2 HAVING count(*) > 1) d;
SQL
  cat "$OUT/${name}_check.txt" >&2
}

log "results in $OUT"
start_redis
redis-cli -p "$REDIS_PORT" flushall >/dev/null

if printf '%s\n' "${SCENARIOS[@]}" | grep -qE '^(burst|two|browse-demo|ratios)$'; then
  log "preparing database loadtest (migrate, cache table, demo data)"
  psql "$PGURL/postgres" -X -tAc "SELECT 1 FROM pg_database WHERE datname = 'loadtest'" | grep -q 1 \
    || createdb -h 127.0.0.1 -U postgres loadtest
  manage loadtest migrate --noinput -v0
  manage loadtest createcachetable
  manage loadtest seed_demo >"$OUT/seed_demo.txt"
fi
log "collecting static files (hashed names for production settings) into $DJANGO_STATIC_ROOT"
manage loadtest collectstatic --noinput -v0

A_PID=
for scenario in "${SCENARIOS[@]}"; do
  case $scenario in
    burst)
      [ -z "$A_PID" ] && { start_gunicorn a "$PORT_A" loadtest 0; A_PID=$GUNICORN_PID; }
      burst burst "http://127.0.0.1:$PORT_A" ;;
    two)
      [ -z "$A_PID" ] && { start_gunicorn a "$PORT_A" loadtest 0; A_PID=$GUNICORN_PID; }
      start_gunicorn b "$PORT_B" loadtest 0
      B_PID=$GUNICORN_PID
      burst two "http://127.0.0.1:$PORT_A,http://127.0.0.1:$PORT_B"
      stop_pid "$B_PID" ;;
    browse-demo)
      [ -z "$A_PID" ] && { start_gunicorn a "$PORT_A" loadtest 0; A_PID=$GUNICORN_PID; }
      run_locust browse-demo Browser "$BROWSE_USERS" 10 "$BROWSE_TIME" LOADTEST_HOSTS="http://127.0.0.1:$PORT_A" ;;
    browse-bench)
      [ -n "$A_PID" ] && { stop_pid "$A_PID"; A_PID=; }
      start_gunicorn bench "$PORT_A" benchdb 1 read-only
      run_locust browse-bench Browser "$BROWSE_USERS" 10 "$BROWSE_TIME" LOADTEST_HOSTS="http://127.0.0.1:$PORT_A"
      stop_pid "$GUNICORN_PID" ;;
    ratios)
      [ -z "$A_PID" ] && { start_gunicorn a "$PORT_A" loadtest 0; A_PID=$GUNICORN_PID; }
      # Seats for everyone (no waiting list on either side), sessions of their own for each side.
      manage loadtest loadtest_prepare --sessions 10 --capacity 1000000 --output "$OUT/ratios_http_run.json"
      manage loadtest loadtest_prepare --sessions 10 --capacity 1000000 --output "$OUT/ratios_pgbench_run.json"
      log "ratios: pages ÷ /healthz, registrations over HTTP ÷ pgbench (${LOADTEST_RATIO_SECONDS:-15} s each)"
      "$PY" loadtest/ratios.py --host "http://127.0.0.1:$PORT_A" --pgurl "$PGURL/loadtest" \
        --run "$OUT/ratios_http_run.json" --pgbench-run "$OUT/ratios_pgbench_run.json" --out "$OUT" \
        --seconds "${LOADTEST_RATIO_SECONDS:-15}" --concurrency "${LOADTEST_RATIO_CONCURRENCY:-8}" \
        | tee "$OUT/ratios.txt" >&2 || true ;;
    *) echo "unknown scenario: $scenario (burst, two, browse-demo, browse-bench)" >&2; exit 2 ;;
  esac
done
stop_all

log "figures"
"$PY" loadtest/report.py "$OUT" "${SCENARIOS[@]}"
