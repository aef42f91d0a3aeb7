"""URL root: mounts every app's API, the admin and the OpenAPI documents."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .api import HealthApi, HealthDetailsApi, HealthLiveApi
from .deployment import writer_only
from .errors import json_error_view

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # Writer routes: on a reader (GEOPLATFORM_MODE=reader) they answer 404 read_only_deployment.
    *writer_only([path("admin/", admin.site.urls)]),
    path("api/health", HealthApi.as_view(), name="health"),
    path("api/health/live", HealthLiveApi.as_view(), name="health-live"),
    path("api/health/details", HealthDetailsApi.as_view(), name="health-details"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    *writer_only([path("api/", include("ingest.urls"))]),
    path("api/raster/", include("rasters.urls")),
    *writer_only([path("api/", include("publishing.urls"))]),
    path("api/stac/", include("catalog.urls")),
    path("api/features/", include("features.urls")),
]

handler400 = json_error_view(400, "bad_request", "Bad request.")
handler403 = json_error_view(403, "forbidden", "Forbidden.")
handler404 = json_error_view(404, "not_found", "No such API route or resource.")
handler500 = json_error_view(500, "server_error", "Internal error; it has been logged.")
