"""Mounted at api/features/collections/<collection_id>/styles (geoplatform/urls.py)."""

from django.urls import path

from . import api

app_name = "styles"

urlpatterns = [
    path("", api.StyleListApi.as_view(), name="styles"),
    path("/<str:style_id>", api.StyleApi.as_view(), name="style"),
    path("/<str:style_id>/metadata", api.StyleMetadataApi.as_view(), name="metadata"),
]
