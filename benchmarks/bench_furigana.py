"""ふりがな (cms.furigana): a page with readings on against the same page without, warm (target: at most 1.2×), and
the first computation of readings for a 2,000-character course body, cold (the dictionary already loaded)."""

import statistics
import time

from django.test import Client

from cms import furigana
from tests import factories

BODY = ("スマートフォンの基本操作から、LINEでの連絡、マイナンバーカードを使ったオンライン申請まで、"
        "お住まいの区の市民館で講師がゆっくり丁寧に説明します。持ち物は充電したスマートフォンと筆記用具です。"
        "初めての方も安心してご参加ください。会場には貸し出し用の端末もご用意しています。")


def _median_ms(client: Client, url: str, rounds: int = 15) -> float:
    client.get(url)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.get(url)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def run() -> None:
    course = factories.course()
    for _ in range(20):
        factories.session(course_page=course)
    plain, annotated = Client(), Client()
    annotated.cookies.load({furigana.COOKIE: "on"})
    for url in ("/classes/", course.url):
        without = _median_ms(plain, url)
        with_readings = _median_ms(annotated, url)
        print(f"{url}: {without:.1f} ms without furigana, {with_readings:.1f} ms with (warm), "  # noqa: T201
              f"ratio {with_readings / without:.2f} (target ≤ 1.2)")

    furigana._tokenizer.cache_clear()
    started = time.perf_counter()
    furigana._tokenizer()
    print(f"dictionary load: {(time.perf_counter() - started) * 1000:.0f} ms (once per process)")  # noqa: T201
    body = (BODY * (2000 // len(BODY) + 1))[:2000]
    furigana._text_node.cache_clear()
    started = time.perf_counter()
    furigana.to_html(body, {})
    cold = (time.perf_counter() - started) * 1000
    page = f"<html><body><p>{body}</p></body></html>"
    furigana.add_to_page(page, {})
    started = time.perf_counter()
    for _ in range(10):
        furigana.add_to_page(page, {})
    warm = (time.perf_counter() - started) * 1000 / 10
    print(f"2,000-character body: {cold:.1f} ms cold (first analysis), {warm:.2f} ms warm")  # noqa: T201
