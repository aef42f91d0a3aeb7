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

urlpatterns += [
    path("xarray/point/<str:collection>/<str:item>", views.XarrayPointApi.as_view(), name="xarray-point"),
    path(
        "xarray/statistics/<str:collection>/<str:item>", views.XarrayStatisticsApi.as_view(), name="xarray-statistics"
    ),
    path("xarray/aggregate/<str:collection>/<str:item>", views.XarrayAggregateApi.as_view(), name="xarray-aggregate"),
    path(
        "xarray/climatology/<str:collection>/<str:item>",
        views.XarrayClimatologyApi.as_view(),
        name="xarray-climatology",
    ),
    path("xarray/anomaly/<str:collection>/<str:item>", views.XarrayAnomalyApi.as_view(), name="xarray-anomaly"),
    path("xarray/legend.png", views.XarrayLegendApi.as_view(), name="xarray-legend"),
    path(
        "xarray/<str:collection>/<str:item>/tiles/<str:tms>/<int:z>/<int:x>/<int:y>.png",
        views.XarrayTileApi.as_view(),
        name="xarray-tile",
    ),
    path(
        "xarray/<str:collection>/<str:item>/<str:tms>/tilejson.json",
        views.XarrayTileJsonApi.as_view(),
        name="xarray-tilejson",
    ),
    path("xarray/<str:collection>/<str:item>/viewer", views.XarrayViewerPage.as_view(), name="xarray-viewer"),
]
