"""The annual report and the partner activity report as real PDFs made on the server (cms.pdf): the report's own
text in Japanese, the charts drawn in (not fetched), the admin's chrome left out, downloads of a partner's figures
audited, other partners' reports refused."""

import io
import time

import pytest
from pypdf import PdfReader
from wagtail.models import ModelLogEntry

from cms import roles
from outreach import reports
from tests.outreach.test_reports import ANNUAL, FY, PARTNERS, programme, staff  # noqa: F401 — programme: a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def pdf_text(response) -> tuple[PdfReader, str]:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    document = PdfReader(io.BytesIO(response.content))
    return document, "\n".join(page.extract_text() for page in document.pages)


def test_the_annual_report_as_a_pdf(client, programme):  # noqa: F811
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER, language="ja"))
    page = client.get(f"{ANNUAL}?fiscal_year={FY}").content.decode()
    assert f'href="{ANNUAL}?fiscal_year={FY}&amp;rollup=decade&amp;format=pdf"' in page
    started = time.perf_counter()
    response = client.get(f"{ANNUAL}?fiscal_year={FY}&format=pdf")
    elapsed = time.perf_counter() - started
    document, text = pdf_text(response)
    print(f"annual report PDF, {len(document.pages)} pages: {elapsed * 1000:.0f} ms")  # noqa: T201
    assert response["Content-Disposition"] == f'inline; filename="dekiru-annual-report-FY{FY}.pdf"'
    assert f"{FY}年度 年次報告" in text and "重要業績評価指標（KPI）" in text
    assert "表示" not in text.split("\n")[0]  # the filter form and buttons are not printed
    images = sum(len(page.images) for page in document.pages)
    assert images >= 4  # the charts, drawn into the PDF


def test_the_partner_report_as_a_pdf_is_audited(client, programme):  # noqa: F811
    client.force_login(staff("officer", roles.CITY_PROGRAMME_OFFICER))
    a = programme["a"].pk
    _document, text = pdf_text(client.get(f"{PARTNERS}?fiscal_year={FY}&partner={a}&format=pdf"))
    assert "Taro Yamada" in text and "2024-05-10" in text
    entry = ModelLogEntry.objects.get(action=reports.LOG_ACTION_EXPORTED)
    assert entry.data["format"] == "pdf" and entry.data["partner"] == a


def test_a_partner_manager_gets_no_other_partners_pdf(client, programme):  # noqa: F811
    client.force_login(staff("manager-b", roles.PARTNER_MANAGER, partner=programme["b"]))
    assert client.get(f"{PARTNERS}?fiscal_year={FY}&partner={programme['a'].pk}&format=pdf").status_code == 404
    _document, text = pdf_text(client.get(f"{PARTNERS}?fiscal_year={FY}&format=pdf"))
    assert "Midori" in text and "Aoba" not in text and "Taro Yamada" not in text
