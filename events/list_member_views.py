"""POST and DELETE /lists/{listId}/profiles: add emails to a Klaviyo list or remove them, each
request stored as a consent change (list_add, list_remove) and sent by the worker in order per
address (klaviyo_sync/list_senders.py). OpenAPI declarations: events/list_member_openapi.py."""

from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.openapi import DeleteWithBodySchema
from events import list_member_openapi as openapi
from events.consent_serializers import ConsentChangeAcceptedSerializer
from events.consent_services import consent_change_create
from events.list_member_serializers import ListMembersInputSerializer, list_id_check
from events.models import ConsentKind


def _accepted(kind: str, request: Request, list_id: str) -> Response:
    list_id = list_id_check(list_id)
    body = ListMembersInputSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    change = consent_change_create(
        kind=kind,
        addresses=[{"email": email} for email in body.validated_data["emails"]],
        list_id=list_id,
    )
    answer = ConsentChangeAcceptedSerializer(change).data
    return Response(answer, status=status.HTTP_202_ACCEPTED)


class ListMembersViewSet(viewsets.ViewSet):
    """A Klaviyo list's members: changes asked of Klaviyo, stored first, sent in order."""

    schema = DeleteWithBodySchema()

    @openapi.list_members_add
    @action(detail=False, methods=["post"], url_path=r"(?P<listId>[^/]+)/profiles")
    def profiles(self, request: Request, listId: str) -> Response:
        return _accepted(ConsentKind.LIST_ADD, request, listId)

    @openapi.list_members_remove
    @profiles.mapping.delete
    def profiles_remove(self, request: Request, listId: str) -> Response:
        return _accepted(ConsentKind.LIST_REMOVE, request, listId)
