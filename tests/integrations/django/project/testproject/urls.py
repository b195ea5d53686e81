"""URLs of the test project: nested includes, a regex route, raising, async, streaming and excluded views."""

from django.urls import include, path, re_path
from pyrometer_django import do_not_track

from . import views

api = [
    path("things/<slug:name>/", views.thing, name="thing"),
]

urlpatterns = [
    path("", include("pyrometer_django.urls")),
    path("polls/", include("polls.urls")),
    path("api/v1/", include(api)),
    re_path(r"^articles/(?P<year>[0-9]{4})/$", views.article, name="article"),
    path("boom/", views.boom, name="boom"),
    path("async/<int:n>/", views.async_view, name="async"),
    path("health/", views.health, name="health"),
    path("private/<str:name>/", views.private, name="private"),
    path("stream/", views.stream, name="stream"),
    path("astream/", views.astream, name="astream"),
    path("untracked/", do_not_track(views.untracked), name="untracked"),
    path("gauge/", views.gauge, name="gauge"),
    path("ready/", views.Ready.as_view(), name="ready"),
    path("async-boom/", views.async_boom, name="async-boom"),
    path("forbidden/", views.forbidden, name="forbidden"),
    path("download/", views.download, name="download"),
    path("hello/", views.hello, name="hello"),
    path("perview/", include("testproject.perview")),
]
