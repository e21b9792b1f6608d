"""/profiles/subscriptions, /unsubscriptions, /suppressions, /unsuppressions (consent changes,
stored then sent by the worker) and /profiles/consent-changes/{id}. Registered before
/profiles/{email} (klaviyo_backend/urls.py). OpenAPI declarations: events/consent_openapi.py."""

from typing import Any

from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from events import consent_openapi as openapi
from events import consent_serializers as cs
from events.consent_selectors import consent_change_get
from events.consent_services import consent_change_create
from events.models import ConsentKind


def _accepted(kind: str, data: dict[str, Any], addresses: list[dict[str, Any]]) -> Response:
    change = consent_change_create(
        kind=kind,
        addresses=addresses,
        channels=data.get("channels", ()),
        list_id=data.get("list_id"),
        historical_import=data.get("historical_import", False),
    )
    answer = cs.ConsentChangeAcceptedSerializer(change).data
    return Response(answer, status=status.HTTP_202_ACCEPTED)


def _validated(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ConsentViewSet(viewsets.ViewSet):
    """Consent, suppression: changes asked of Klaviyo, stored first, sent in order."""

    @openapi.subscribe
    @action(detail=False, methods=["post"])
    def subscriptions(self, request: Request) -> Response:
        data = _validated(cs.SubscriptionInputSerializer, request)
        return _accepted(ConsentKind.SUBSCRIBE, data, data["profiles"])

    @openapi.unsubscribe
    @action(detail=False, methods=["post"])
    def unsubscriptions(self, request: Request) -> Response:
        data = _validated(cs.UnsubscriptionInputSerializer, request)
        return _accepted(ConsentKind.UNSUBSCRIBE, data, data["profiles"])

    @openapi.suppress
    @action(detail=False, methods=["post"])
    def suppressions(self, request: Request) -> Response:
        data = _validated(cs.EmailsInputSerializer, request)
        return _accepted(ConsentKind.SUPPRESS, {}, [{"email": e} for e in data["emails"]])

    @openapi.unsuppress
    @action(detail=False, methods=["post"])
    def unsuppressions(self, request: Request) -> Response:
        data = _validated(cs.EmailsInputSerializer, request)
        return _accepted(ConsentKind.UNSUPPRESS, {}, [{"email": e} for e in data["emails"]])

    @openapi.consent_change_retrieve
    @action(
        detail=False,
        methods=["get"],
        url_path=r"consent-changes/(?P<change_id>[0-9]{1,18})",
        url_name="consent-change",
    )
    def consent_change(self, request: Request, change_id: str) -> Response:
        change = consent_change_get(change_id=int(change_id))
        if change is None:
            raise NotFound(f"Consent change {change_id} not found")
        return Response(cs.ConsentChangeOutputSerializer(change).data)
