from django.urls import path

from . import api, tiles_api

app_name = "features"

urlpatterns = [
    path("", api.LandingApi.as_view(), name="landing"),
    path("conformance", api.ConformanceApi.as_view(), name="conformance"),
    path("api", api.OpenApiApi.as_view(), name="openapi"),
    path("collections", api.CollectionListApi.as_view(), name="collections"),
    path("collections/<str:collection_id>", api.CollectionDetailApi.as_view(), name="collection"),
    path("collections/<str:collection_id>/items", api.ItemListApi.as_view(), name="items"),
    path("collections/<str:collection_id>/queryables", api.QueryablesApi.as_view(), name="queryables"),
    path("collections/<str:collection_id>/items/<str:feature_id>", api.ItemDetailApi.as_view(), name="item"),
    path("tileMatrixSets", tiles_api.TileMatrixSetListApi.as_view(), name="tms-list"),
    path("tileMatrixSets/<str:tms>", tiles_api.TileMatrixSetApi.as_view(), name="tms"),
    path("collections/<str:collection_id>/tiles", tiles_api.TileSetListApi.as_view(), name="tilesets"),
    path("collections/<str:collection_id>/tiles/<str:tms>", tiles_api.TileSetApi.as_view(), name="tileset"),
    path(
        "collections/<str:collection_id>/tiles/<str:tms>/<str:z>/<str:x>/<str:y>",
        tiles_api.TileApi.as_view(),
        name="tile",
    ),
]
