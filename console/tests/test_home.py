"""`/` is a page that says what this is and links the docs, the staff console and health."""

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_the_home_page_links_the_docs_the_console_and_health(anonymous_client):
    response = anonymous_client.get("/")

    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    for link in ('href="/api"', f'href="{reverse("console:dashboard")}"', 'href="/health"'):
        assert link in page
    assert "<script" not in page  # nothing for the Content-Security-Policy to allow


@pytest.mark.django_db
def test_admins_view_site_link_leads_to_the_home_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("a", "a@x.com", "pw"))

    page = client.get(reverse("admin:index")).content.decode()

    assert 'href="/">View site</a>' in page


@pytest.mark.django_db
def test_unknown_paths_still_answer_404_in_the_error_shape(anonymous_client):
    response = anonymous_client.get("/nothing-here")

    assert response.status_code == 404
    assert response.json()["statusCode"] == 404
