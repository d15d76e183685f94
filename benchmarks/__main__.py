"""`make bench`: performance figures, on a throwaway test database (SQLite, or DATABASE_URL's PostgreSQL).

Each issue adds its benchmark module to BENCHMARKS; each prints its own figures.
"""

import importlib
import os
import sys

BENCHMARKS = ["benchmarks.bench_registration", "benchmarks.bench_listing", "benchmarks.bench_ical",
              "benchmarks.bench_outbox", "benchmarks.bench_spreadsheets", "benchmarks.bench_outreach",
              "benchmarks.bench_furigana", "benchmarks.bench_planning", "benchmarks.bench_channels"]


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from provision.services import ensure_site

        ensure_site()
        print(f"database: {connection.vendor}", flush=True)  # noqa: T201
        for name in sys.argv[1:] or BENCHMARKS:
            importlib.import_module(name).run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
