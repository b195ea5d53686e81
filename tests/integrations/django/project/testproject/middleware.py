"""A middleware answering before URL resolution, like a login check."""

from django.http import HttpResponse
from django.utils.deprecation import MiddlewareMixin


class TokenRequired(MiddlewareMixin):
    """Paths under /private/ need an X-Token header, else 401 before any view is resolved."""

    def process_request(self, request):
        if request.path_info.startswith("/private/") and "X-Token" not in request.headers:
            return HttpResponse("token required", status=401)
        return None
