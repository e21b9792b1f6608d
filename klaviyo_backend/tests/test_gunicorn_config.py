"""gunicorn's worker set-up (klaviyo_backend/gunicorn_config.py)."""

import gc
import sys

import pytest

from klaviyo_backend import gunicorn_config


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's collector as it was


def test_a_worker_loads_its_urlconf_then_freezes_what_it_loaded(unfrozen, monkeypatch):
    monkeypatch.delitem(sys.modules, "klaviyo_backend.urls", raising=False)
    from django.urls import clear_url_caches

    clear_url_caches()

    gunicorn_config.post_worker_init(worker=None)

    urlpatterns = sys.modules["klaviyo_backend.urls"].urlpatterns
    assert gc.get_freeze_count() > 10_000
    # Frozen, the URLconf's objects are in no generation a collection walks.
    assert not any(tracked is urlpatterns for tracked in gc.get_objects())


def test_a_worker_serving_another_app_still_starts(unfrozen, monkeypatch):
    """`serve --app` may serve a bare WSGI app that never set Django up (bench/single.py)."""
    from django.apps import apps

    monkeypatch.setattr(apps, "ready", False)

    gunicorn_config.post_worker_init(worker=None)

    assert gc.get_freeze_count() > 0
