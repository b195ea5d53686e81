from django.urls import include, path

from shop import views

urlpatterns = [
    path("orders/<str:product>/", views.place_order),
    path("", include("pyrometer_django.urls")),
]
