"""Views of the test project."""

import asyncio
import time

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.views import View
from pyrometer_django import do_not_track
from pyrometer_django._config import get_config

seen_in_progress = []


def thing(request, name):
    return HttpResponse(name)


def article(request, year):
    return HttpResponse(year)


def boom(request):
    raise RuntimeError("boom")


async def async_view(request, n):
    await asyncio.sleep(0)
    registry = get_config().registry
    seen_in_progress.append(registry.get_sample_value(
        "http_requests_in_progress", {"method": "GET", "handler": "/async/<int:n>/"}))
    return JsonResponse({"n": n})


def health(request):
    return HttpResponse("ok")


def private(request, name):
    return HttpResponse(name)


def stream(request):
    def chunks():
        for _ in range(3):
            time.sleep(0.05)
            yield b"chunk"
    return StreamingHttpResponse(chunks())


async def astream(request):
    async def chunks():
        for _ in range(3):
            await asyncio.sleep(0.05)
            yield b"chunk"
    return StreamingHttpResponse(chunks())


def untracked(request):
    return HttpResponse("not measured")


def gauge(request):
    registry = get_config().registry
    seen_in_progress.append(registry.get_sample_value(
        "http_requests_in_progress", {"method": "GET", "handler": "/gauge/"}))
    return HttpResponse("ok")


@do_not_track
class Ready(View):
    def get(self, request):
        return HttpResponse("ready")


async def async_boom(request):
    raise ValueError("async boom")


def forbidden(request):
    raise PermissionDenied


def download(request):
    return FileResponse(open(__file__, "rb"))


def hello(request):
    return TemplateResponse(request, "hello.html", {"name": "you"})
