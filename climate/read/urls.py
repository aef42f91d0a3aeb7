"""Routes of the read API, mounted at /api/ by one include in geoplatform/urls.py."""

from django.urls import path

from . import views

app_name = "climate_read"

urlpatterns = [
    path("edr/", views.EdrLandingApi.as_view(), name="edr-landing"),
    path("edr/conformance", views.EdrConformanceApi.as_view(), name="edr-conformance"),
    path("edr/collections", views.EdrCollectionListApi.as_view(), name="edr-collections"),
    path("edr/collections/<str:collection_id>", views.EdrCollectionApi.as_view(), name="edr-collection"),
    path(
        "edr/collections/<str:collection_id>/position", views.EdrQueryApi.as_view(query="position"), name="edr-position"
    ),
    path("edr/collections/<str:collection_id>/area", views.EdrQueryApi.as_view(query="area"), name="edr-area"),
    path("edr/collections/<str:collection_id>/cube", views.EdrQueryApi.as_view(query="cube"), name="edr-cube"),
]
