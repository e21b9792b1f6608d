"""Content negotiation with a shortcut for what API clients send: no Accept header, `*/*` or
`application/json`, no `?format=`. DRF's negotiation parses the header into media types on every
request, a fortieth of a single event's CPU; for these the answer is known: the view's first
renderer, as DRF would pick it. Anything else is negotiated by DRF as before (406, 404, ...)."""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# An Accept header of these, or none, takes the first renderer (an empty one answers 406).
_ANY = ("*/*",)


class JsonFirstContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if renderers and format_suffix is None and not request.META.get("QUERY_STRING"):
            first = renderers[0]
            # DRF gives */* the first renderer, with the renderer's own media type; an exact
            # match the same, as long as the first renderer is the one that matches.
            if accept in _ANY or (accept == "application/json" == first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
