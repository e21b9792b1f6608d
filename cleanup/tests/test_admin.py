"""Admin: purge runs, read-only, newest first."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cleanup.models import PurgeOutcome, PurgeRun, PurgeTrigger

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def make_run(outcome: PurgeOutcome) -> PurgeRun:
    return PurgeRun.objects.create(
        trigger=PurgeTrigger.BEAT, retention_days=7, batch_size=5000, outcome=outcome
    )


def test_runs_are_listed_newest_first(admin_client_logged_in):
    older = make_run(PurgeOutcome.SUCCEEDED)
    newer = make_run(PurgeOutcome.FAILED)

    response = admin_client_logged_in.get("/admin/cleanup/purgerun/")

    assert response.status_code == 200
    listed = [run.pk for run in response.context["cl"].result_list]
    assert listed == [newer.pk, older.pk]


def test_runs_are_read_only(admin_client_logged_in):
    run = make_run(PurgeOutcome.SUCCEEDED)

    page = admin_client_logged_in.get(f"/admin/cleanup/purgerun/{run.pk}/change/")
    change = admin_client_logged_in.post(
        f"/admin/cleanup/purgerun/{run.pk}/change/", {"outcome": "failed"}
    )
    add = admin_client_logged_in.get("/admin/cleanup/purgerun/add/")
    delete = admin_client_logged_in.post(
        f"/admin/cleanup/purgerun/{run.pk}/delete/", {"post": "yes"}
    )

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert change.status_code == 403
    assert add.status_code == 403
    assert delete.status_code == 403
    run.refresh_from_db()
    assert run.outcome == PurgeOutcome.SUCCEEDED
