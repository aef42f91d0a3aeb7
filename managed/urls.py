"""Mounted at api/managed/ (geoplatform/urls.py)."""

from django.urls import path

from . import api

app_name = "managed"

urlpatterns = [
    path("sources", api.SourceListApi.as_view(), name="sources"),
    path("sources/<slug:name>", api.SourceDetailApi.as_view(), name="source"),
    path("sources/<slug:name>/history", api.SourceHistoryApi.as_view(), name="history"),
    path("sources/<slug:name>/update", api.SourceUpdateApi.as_view(), name="update"),
    path("sources/<slug:name>/enable", api.SourceEnableApi.as_view(), name="enable"),
    path("sources/<slug:name>/disable", api.SourceDisableApi.as_view(), name="disable"),
    path("sources/<slug:name>/rollback", api.SourceRollbackApi.as_view(), name="rollback"),
    path("sources/<slug:name>/versions/<int:number>/approve", api.VersionApproveApi.as_view(), name="approve"),
    path("sources/<slug:name>/versions/<int:number>/reject", api.VersionRejectApi.as_view(), name="reject"),
]
