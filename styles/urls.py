"""Mounted at api/features/collections/<collection_id>/ (geoplatform/urls.py)."""

from django.urls import path

from . import api

app_name = "styles"

urlpatterns = [
    path("styles", api.StyleListApi.as_view(), name="styles"),
    path("styles/<str:style_id>", api.StyleApi.as_view(), name="style"),
    path("styles/<str:style_id>/metadata", api.StyleMetadataApi.as_view(), name="metadata"),
]
