from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_login_shows_demo_study(live_server, page, test_output_dir):
    call_command("demo")
    get_user_model().objects.create_superuser("researcher", "", "s3cret-pass-123")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "s3cret-pass-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    page.goto(f"{live_server.url}/admin/studies/study/")
    row = page.locator("#result_list tbody tr").first
    assert "How do people experience AI refusals?" in row.inner_text()
    assert "0 / 720" in row.inner_text()
    page.screenshot(path=str(test_output_dir / "admin-studies.png"), full_page=True)
