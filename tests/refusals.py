"""What a refused admin page looks like (cms.admin_refusals): a GET answers 403 with the reason in the admin's
layout; a POST that Wagtail refuses still returns to the admin home (nothing is changed either way)."""


def refused_page(response) -> bool:
    return response.status_code == 403 and b"data-refused" in response.content
