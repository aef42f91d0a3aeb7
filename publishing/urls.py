"""Mounted at ``api/`` by the root URLconf, so ``/api/platform`` itself resolves too."""

from django.urls import path, re_path

from . import api

urlpatterns = [
    path("platform", api.PlatformManifestApi.as_view(), name="platform-manifest"),
    path("platform/submit", api.SubmitApi.as_view(), name="platform-submit"),
    path("platform/status", api.StatusListApi.as_view(), name="platform-status-list"),
    path("platform/status/<str:ident>", api.StatusApi.as_view(), name="platform-status"),
    path("platform/approve", api.ApproveApi.as_view(), name="platform-approve"),
    path("platform/reject", api.RejectApi.as_view(), name="platform-reject"),
    path("platform/revoke", api.RevokeApi.as_view(), name="platform-revoke"),
    path("platform/approvals", api.ApprovalsListApi.as_view(), name="platform-approvals"),
    path("platform/approvals/status", api.ApprovalsStatusApi.as_view(), name="platform-approvals-status"),
    path("platform/approvals/<str:ident>", api.ApprovalDetailApi.as_view(), name="platform-approval"),
    path("platform/unpublish", api.UnpublishApi.as_view(), name="platform-unpublish"),
    path("platform/catalog/lookup", api.CatalogLookupApi.as_view(), name="platform-catalog-lookup"),
    path("platform/catalog/asset/<str:asset_id>", api.CatalogAssetApi.as_view(), name="platform-catalog-asset"),
    path(
        "platform/catalog/item/<str:collection_id>/<str:item_id>",
        api.CatalogItemApi.as_view(),
        name="platform-catalog-item",
    ),
    path("platform/catalog/dataset/<str:dataset_id>", api.CatalogDatasetApi.as_view(), name="platform-catalog-dataset"),
    path("platform/health", api.PlatformHealthApi.as_view(), name="platform-health"),
    path("platform/failures", api.FailuresApi.as_view(), name="platform-failures"),
    # Anything else under /api/platform/ answers with the DDH envelope, not the generic 404.
    re_path(r"^platform/.+$", api.PlatformNotFoundApi.as_view(), name="platform-not-found"),
]
