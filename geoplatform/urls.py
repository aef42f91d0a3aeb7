"""URL root: mounts every app's API, the admin and the OpenAPI documents."""

from django.contrib import admin
from django.urls import include, path
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .admin import diagnostics_page
from .api import HealthApi, HealthDetailsApi, HealthLiveApi
from .deployment import writer_only
from .diagnostics_api import DiagnosticsActionApi, DiagnosticsIndexApi, DiagnosticsSectionApi
from .errors import json_error_view
from .metrics_view import metrics_view

urlpatterns = [
    path("", include("catalog.home_urls")),
    # Writer routes: on a reader (GEOPLATFORM_MODE=reader) they answer 404 read_only_deployment.
    *writer_only(
        [
            # A read-only page: other methods get 405 before the admin's login redirect.
            path("admin/diagnostics/", require_safe(admin.site.admin_view(diagnostics_page)), name="admin-diagnostics"),
            path("admin/", admin.site.urls),
        ]
    ),
    path("api/health", HealthApi.as_view(), name="health"),
    path("api/health/live", HealthLiveApi.as_view(), name="health-live"),
    path("api/health/details", HealthDetailsApi.as_view(), name="health-details"),
    # Diagnostics read the broker, the workers and the writer's tables: operators ask the writer.
    *writer_only(
        [
            path("api/diagnostics/", DiagnosticsIndexApi.as_view(), name="diagnostics"),
            path("api/diagnostics/actions/<str:name>/", DiagnosticsActionApi.as_view(), name="diagnostics-action"),
            path("api/diagnostics/<str:section>/", DiagnosticsSectionApi.as_view(), name="diagnostics-section"),
        ]
    ),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    *writer_only([path("api/", include("ingest.urls"))]),
    path("api/raster/", include("rasters.urls")),
    *writer_only([path("api/", include("publishing.urls"))]),
    path("api/stac/", include("catalog.urls")),
    path("api/features/collections/<str:collection_id>/", include("styles.urls")),
    path("api/features/", include("features.urls")),
    path("api/", include("climate.read.urls")),
    *writer_only([path("api/managed/", include("managed.urls"))]),
]

handler400 = json_error_view(400, "bad_request", "Bad request.")
handler403 = json_error_view(403, "forbidden", "Forbidden.")
handler404 = json_error_view(404, "not_found", "No such API route or resource.")
handler500 = json_error_view(500, "server_error", "Internal error; it has been logged.")
