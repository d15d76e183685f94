"""One mail worker process for test_outbox_concurrency: waits for a common start time, then drains the outbox
through the SendGrid backend pointed at the test's fake server.

Run as `python -m tests.courses.outbox_worker SENDGRID_URL START_AT WORKER_ID` with DATABASE_URL naming the test
database. Prints the outcomes as JSON ({"sent": n, ...}), or ERROR and the exception.
"""

import json
import os
import sys
import time

if __name__ == "__main__":
    from tests import clock

    clock.follow_the_test_run()  # the date of the test run that started this process (--clock-offset-days)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings.test")
    import django

    django.setup()
    from django.conf import settings

    from courses import outbox
    from tests.fake_sendgrid import FAKE_API_KEY

    url, start_at, worker_id = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    settings.EMAIL_BACKEND = "cms.mail.SendGridBackend"
    settings.SENDGRID_API_KEY = FAKE_API_KEY
    settings.SENDGRID_API_HOST = url
    settings.SENDGRID_TIMEOUT = 5
    time.sleep(max(0.0, start_at - time.time()))
    try:
        sys.stdout.write(json.dumps(dict(outbox.send_due_messages(worker_id=worker_id))) + "\n")
    except Exception as exc:  # noqa: BLE001 — report every failure to the test
        sys.stdout.write(f"ERROR {exc!r}\n")
