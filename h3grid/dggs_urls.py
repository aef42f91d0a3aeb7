"""``/api/dggs/``: OGC API - DGGS with H3 as a custom DGGRS (see :mod:`h3grid.dggs`)."""

from django.urls import path

from . import api

app_name = "dggs"

_ZONES = [
    ("dggs", api.DggsListApi, "list"),
    ("dggs/<str:dggrs_id>", api.DggsDescriptionApi, "dggrs"),
    ("dggs/<str:dggrs_id>/zones", api.DggsZonesApi, "zones"),
    ("dggs/<str:dggrs_id>/zones/<str:zone_id>", api.DggsZoneApi, "zone"),
]

urlpatterns = [
    path("", api.DggsLandingApi.as_view(), name="landing"),
    path("conformance", api.DggsConformanceApi.as_view(), name="conformance"),
    path("collections", api.DggsCollectionsApi.as_view(), name="collections"),
    path("collections/<str:collection_id>", api.DggsCollectionApi.as_view(), name="collection"),
    *[path(route, view.as_view(), name=name) for route, view, name in _ZONES],
    *[
        path(f"collections/<str:collection_id>/{route}", view.as_view(), name=f"collection-{name}")
        for route, view, name in _ZONES
    ],
    path(
        "collections/<str:collection_id>/dggs/<str:dggrs_id>/zones/<str:zone_id>/data",
        api.DggsZoneDataApi.as_view(),
        name="collection-zone-data",
    ),
]
