"""One racing process for test_concurrency: waits for a common start time, then registers one person.

Run as `python -m tests.courses.race_worker SESSION_ID N START_AT` with DATABASE_URL naming the test database.
Prints the resulting status, or ERROR and the exception.
"""

import os
import sys
import time

if __name__ == "__main__":
    from tests import clock

    clock.follow_the_test_run()  # the date of the test run that started this process (--clock-offset-days)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings.test")
    import django

    django.setup()
    from courses import services
    from courses.models import Session

    session_id, n, start_at = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    session = Session.objects.get(pk=session_id)
    time.sleep(max(0.0, start_at - time.time()))
    try:
        result = services.register(session=session, participant=services.ParticipantDetails(
            name=f"別プロセス 次郎{n}", kana="ベツプロセス ジロウ", phone=f"0701234{n:04d}", consent=True))
        sys.stdout.write(result.registration.status + "\n")
    except Exception as exc:  # noqa: BLE001 — report every failure to the test
        sys.stdout.write(f"ERROR {exc!r}\n")
