"""``/api/h3/`` (the H3 API and the hexagon map)."""

from django.urls import path

from . import api

app_name = "h3grid"

urlpatterns = [
    path("registry", api.H3RegistryApi.as_view(), name="registry"),
    path("stats/<str:dataset_id>", api.H3StatsSummaryApi.as_view(), name="stats"),
    path("stats/<str:dataset_id>/cells", api.H3StatsCellsApi.as_view(), name="stats-cells"),
    path("cells/<str:cell>", api.H3CellApi.as_view(), name="cell"),
    path("map", api.H3MapPage.as_view(), name="map"),
]
