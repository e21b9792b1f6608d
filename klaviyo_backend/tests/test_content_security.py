"""The policy allows the docs' asset origin only while the docs load from one."""

from klaviyo_backend.content_security import content_security_policy, docs_asset_origins


def test_docs_served_by_this_service_need_no_other_origin():
    served_here = {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR"}
    served_here["REDOC_DIST"] = "SIDECAR"

    directives = content_security_policy(served_here)["DIRECTIVES"]

    assert docs_asset_origins(served_here) == []
    assert directives["script-src"] == ["'self'"]


def test_docs_from_drf_spectacular_s_default_cdn_allow_that_origin_for_their_assets():
    directives = content_security_policy({})["DIRECTIVES"]

    assert docs_asset_origins({}) == ["https://cdn.jsdelivr.net"]
    assert directives["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    assert directives["connect-src"] == ["'self'"]
