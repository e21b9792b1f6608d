import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import CONTENT_TYPE_LATEST

from core.errors import error_response, handler404
from core.metrics import metrics_exposition


@csrf_exempt  # no session or form here: other methods get a plain 405
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. Open when METRICS_TOKEN is empty (scraped inside the network),
    else it needs `Authorization: Bearer <METRICS_TOKEN>`."""
    if request.method not in ("GET", "HEAD"):
        return error_response(
            405, [f'Method "{request.method}" not allowed.'], headers={"Allow": "GET"}
        )
    token = settings.METRICS_TOKEN
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return error_response(
                401, ["Missing or wrong metrics token: send Authorization: Bearer <token>"]
            )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths answer in the error shape, in DEBUG too."""
    return handler404(request)
