from django.urls import path

from . import api

urlpatterns = [
    path("", api.StacLandingApi.as_view(), name="stac-landing"),
    path("conformance", api.StacConformanceApi.as_view(), name="stac-conformance"),
    path("collections", api.StacCollectionListApi.as_view(), name="stac-collections"),
    path("collections/<str:collection_id>", api.StacCollectionApi.as_view(), name="stac-collection"),
    path("collections/<str:collection_id>/items", api.StacItemListApi.as_view(), name="stac-items"),
    path("collections/<str:collection_id>/items/<str:item_id>", api.StacItemApi.as_view(), name="stac-item"),
    path("search", api.StacSearchApi.as_view(), name="stac-search"),
    path("queryables", api.StacQueryablesApi.as_view(), name="stac-queryables"),
    path(
        "collections/<str:collection_id>/queryables",
        api.StacCollectionQueryablesApi.as_view(),
        name="stac-collection-queryables",
    ),
]
