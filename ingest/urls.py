from django.urls import path

from . import api

urlpatterns = [
    path("jobs", api.JobListApi.as_view(), name="jobs-list"),
    path("jobs/types", api.JobTypesApi.as_view(), name="jobs-types"),
    path("jobs/submit/<str:job_type>", api.JobSubmitApi.as_view(), name="jobs-submit"),
    path("jobs/status/<str:job_id>", api.JobStatusApi.as_view(), name="jobs-status"),
    path("jobs/<str:job_id>/events", api.JobEventsApi.as_view(), name="jobs-events"),
    path("jobs/<str:job_id>/retry", api.JobRetryApi.as_view(), name="jobs-retry"),
    path("jobs/<str:job_id>/cancel", api.JobCancelApi.as_view(), name="jobs-cancel"),
    path("storage/<str:container>/upload", api.StorageUploadApi.as_view(), name="storage-upload"),
]
