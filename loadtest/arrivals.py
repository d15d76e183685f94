"""When each resident of the registration burst presses 申し込む (stdlib only: imported by locustfile.py, and by
tests/test_loadtest_prepare.py without locust installed).

Locust starts users in clumps: its dispatcher adds floor(spawn rate) users every floor(rate)/rate seconds, all at
the same instant. At 25 a second that is 25 residents pressing at the very same millisecond, then nobody for a
second. A clump of 25 residents, each a form GET and a POST, is 50 requests at once for 4 workers on 2 cores: the
last answer of a clump waits for the whole clump, whatever a request costs, so the burst's p95 measured the clump's
size, not the site (14–16× the unloaded p50 however fast the requests were made).

People do not arrive in clumps. Each resident first waits a random moment within the interval it was started in,
so that the residents of one second arrive at random times in it: for a Poisson process of that rate, the times of
the arrivals in an interval, given how many came, are independent and uniform over it. Seeded by the resident's
number, so that a run can be repeated. LOADTEST_ARRIVAL_SPREAD=0 keeps locust's clumps.
"""

import random


def arrival_delay(number: int, spread: float) -> float:
    """Seconds resident `number` waits after locust starts it: uniform in [0, spread), the same for the same
    number; 0 when spread is 0 (locust's clumps)."""
    if spread <= 0:
        return 0.0
    return random.Random(number).uniform(0, spread)
