"""``PrometheusDjangoView``: a Django class-based view serving a registry."""

from __future__ import annotations

from typing import Any, Optional

try:
    from django.http import HttpRequest, HttpResponse
    from django.utils.decorators import method_decorator
    from django.views import View
    from django.views.decorators.csrf import csrf_exempt
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("pyrometer.django needs Django: pip install 'pyrometer[django]'") from exc

from .._negotiation import serve
from ..protection import Protection
from ..registry import REGISTRY, Collector


@method_decorator(csrf_exempt, name="dispatch")
class PrometheusDjangoView(View):
    """Serves ``registry`` (``REGISTRY`` when unset); route it with ``PrometheusDjangoView.as_view()``.

    Methods other than GET, HEAD and OPTIONS get the shared 405 rather than a CSRF 403.
    ``protection`` (``as_view(protection=...)``) checks ``REMOTE_ADDR`` and the
    ``Authorization`` header.
    """

    registry: Optional[Collector] = None
    disable_compression: bool = False
    protection: Optional[Protection] = None

    def _registry(self) -> Collector:
        return self.registry if self.registry is not None else REGISTRY

    def _respond(self, request: HttpRequest) -> HttpResponse:
        reply = serve(
            self._registry(),
            request.method or "GET",
            request.path_info,
            request.headers.get("Accept"),
            request.headers.get("Accept-Encoding"),
            request.GET,
            self.disable_compression,
            protection=self.protection,
            authorization=request.META.get("HTTP_AUTHORIZATION"),
            client_addr=request.META.get("REMOTE_ADDR"),
        )
        response = HttpResponse(reply.body, status=reply.status)
        if not any(name == "Content-Type" for name, _ in reply.headers):
            del response["Content-Type"]
        for name, value in reply.headers:
            response[name] = value
        return response

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Serve a scrape."""
        return self._respond(request)

    def head(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Headers of a scrape, without the body."""
        return self._respond(request)

    def options(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """List the allowed methods."""
        return self._respond(request)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The shared 405 with an ``Allow`` header."""
        return self._respond(request)
