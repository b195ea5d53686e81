"""django-prometheus's request series that only Django knows about, for the ``django_prometheus`` preset.

The engine's preset exports the series made of the engine's facts (method,
view, status, exception, duration, body sizes, in progress). The rest need the
Django request or response: the before-middleware counters, the transport
(``request.is_secure()``), AJAX requests, template names, charsets and streaming
responses. They are counted when a measured request is done, so excluded paths
and opted-out views (``/metrics`` included) are left out, as from every other series.
"""

from __future__ import annotations

from typing import Any, List, Optional

from django.http import HttpRequest
from pyrometer.http import UNMATCHED
from pyrometer.metrics import Counter
from pyrometer.registry import CollectorRegistry

PRESET = "django_prometheus"


class LegacySeries:
    """The Django-only series of the ``django_prometheus`` preset, in one registry."""

    def __init__(self, registry: Optional[CollectorRegistry], namespace: str = "") -> None:
        kw = {"registry": registry, "namespace": namespace}
        self.requests_before = Counter("django_http_requests_before_middlewares_total",
                                       "Total count of requests before middlewares run.", **kw)
        self.responses_before = Counter("django_http_responses_before_middlewares_total",
                                        "Total count of responses before middlewares run.", **kw)
        # Every request's latency is known here; the two series stay at 0 so that dashboards find them.
        self.unknown_latency_before = Counter(
            "django_http_requests_unknown_latency_including_middlewares_total",
            "Count of requests for which the latency was unknown (when computing "
            "django_http_requests_latency_including_middlewares_seconds).", **kw)
        self.unknown_latency = Counter("django_http_requests_unknown_latency_total",
                                       "Count of requests for which the latency was unknown.", **kw)
        self.ajax = Counter("django_http_ajax_requests_total", "Count of AJAX requests.", **kw)
        self.by_transport = Counter("django_http_requests_total_by_transport", "Count of requests by transport.",
                                    ["transport"], **kw)
        self.by_view_transport_method = Counter(
            "django_http_requests_total_by_view_transport_method", "Count of requests by view, transport, method.",
            ["view", "transport", "method"], **kw)
        self.by_templatename = Counter("django_http_responses_total_by_templatename",
                                       "Count of responses by template name.", ["templatename"], **kw)
        self.by_charset = Counter("django_http_responses_total_by_charset", "Count of responses by charset.",
                                  ["charset"], **kw)
        self.streaming = Counter("django_http_responses_streaming_total", "Count of streaming responses.", **kw)

    def collectors(self) -> List[Counter]:
        """Every metric of this set (to unregister them when the configuration changes)."""
        return [self.requests_before, self.responses_before, self.unknown_latency_before, self.unknown_latency,
                self.ajax, self.by_transport, self.by_view_transport_method, self.by_templatename, self.by_charset,
                self.streaming]

    def done(self, request: HttpRequest, method: str, view: Optional[str], response: Any) -> None:
        """Count one measured request: ``view`` is its ``handler`` label, ``response`` None when none left the stack."""
        transport = "https" if request.is_secure() else "http"
        self.requests_before.inc()
        self.by_transport.labels(transport).inc()
        if request.headers.get("x-requested-with") == "XMLHttpRequest":
            self.ajax.inc()
        if view is not None and view != UNMATCHED:  # as django-prometheus: only requests whose view was resolved
            self.by_view_transport_method.labels(view, transport, method).inc()
        if response is None:
            return
        self.responses_before.inc()
        template = getattr(response, "template_name", None)
        if template is not None:
            self.by_templatename.labels(str(template)).inc()
        charset = getattr(response, "charset", None)
        if charset is not None:
            self.by_charset.labels(str(charset)).inc()
        if response.streaming:
            self.streaming.inc()
