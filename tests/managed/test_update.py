"""The update of a managed source against a local HTTP server: check -> download -> ingest -> swap,
run in-process (the real job engine, the real loaders, PostGIS, Azurite)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog import selectors as catalog_selectors
from features import sql as features_sql
from features.models import VectorDataset
from geoplatform import storage
from managed import services
from managed.errors import CheckFailed, NothingToRollBack
from managed.models import SourceVersion, VersionStatus

from .conftest import V1, V2, geojson, run_update

PATH = "/data/places.geojson"


def _names(collection_id: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f'SELECT name FROM geo."{collection_id}" ORDER BY id')
        return [r[0] for r in cur.fetchall()]


def _bronze_blobs(source: Any) -> list[str]:
    return storage.blob_list(storage.zone_container("bronze"), f"managed/{source.name}")


@pytest.fixture
def live_v1(source_server: Any, make_source: Any) -> Any:
    url = source_server.put(PATH, geojson(V1))
    source = make_source(url)
    outcome = run_update(source)
    assert outcome.outcome == "submitted"
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error
    return source


@pytest.mark.django_db
def test_first_update_goes_live(live_v1: Any) -> None:
    version = SourceVersion.objects.get(source=live_v1)
    assert version.number == 1 and version.counts == {"rows": 3}
    assert version.sha256 and version.bytes and version.etag and version.published_at
    dataset = VectorDataset.objects.get(pk="managed_src")
    assert dataset.published and dataset.feature_count == 3
    assert _names("managed_src") == ["a", "b", "c"]
    assert not VectorDataset.objects.filter(pk="managed_src__v1").exists()
    assert live_v1.last_success_at is not None and live_v1.last_error is None


@pytest.mark.django_db
def test_unchanged_costs_at_most_three_requests_and_makes_no_version(live_v1: Any, source_server: Any) -> None:
    source_server.reset_counts()
    outcome = services.update_trigger(source=live_v1)
    assert outcome.outcome == "unchanged"
    assert source_server.count() <= 3 and outcome.requests <= 3
    assert outcome.seconds < 5
    assert SourceVersion.objects.filter(source=live_v1).count() == 1


@pytest.mark.django_db
def test_changed_source_swaps_live_and_keeps_the_old(live_v1: Any, source_server: Any, api_client: Any) -> None:
    source_server.put(PATH, geojson(V2))
    outcome = run_update(live_v1)
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error
    assert outcome.version.number == 2
    assert SourceVersion.objects.get(source=live_v1, number=1).status == VersionStatus.PREVIOUS
    assert _names("managed_src") == ["a2", "b2", "c2"]
    hidden = VectorDataset.objects.get(pk="managed_src__v1")  # the old one, kept hidden for rollback
    assert not hidden.published and _names("managed_src__v1") == ["a", "b", "c"]
    response = api_client.get("/api/features/collections/managed_src/items?f=json")
    body = json.loads(b"".join(response.streaming_content))
    assert sorted(f["properties"]["name"] for f in body["features"]) == ["a2", "b2", "c2"]
    assert api_client.get("/api/features/collections/managed_src__v1/items?f=json").status_code == 404
    item = catalog_selectors.item_get(collection_id="system-vectors", item_id="managed_src")
    assert item is not None and item["properties"]["geoplatform:feature_count"] == 3
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id="managed_src__v1") is None
    assert catalog_selectors.item_get(collection_id="system-vectors", item_id="managed_src__v2") is None


@pytest.mark.django_db
def test_same_bytes_behind_a_new_etag_end_as_unchanged(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, geojson(V1), etag='"another-etag"')
    outcome = run_update(live_v1)
    assert outcome.version.status == VersionStatus.UNCHANGED
    assert outcome.version.blobs == [] and _bronze_blobs(live_v1) == ["managed/src/v1/places.geojson"]
    live = SourceVersion.objects.get(source=live_v1, status=VersionStatus.LIVE)
    assert live.number == 1 and live.etag == '"another-etag"'  # the next check is a 304
    source_server.reset_counts()
    assert services.update_trigger(source=live_v1).outcome == "unchanged"


@pytest.mark.django_db
def test_force_reingests_an_unchanged_source(live_v1: Any) -> None:
    outcome = run_update(live_v1, force=True)
    assert outcome.version.forced and outcome.version.status == VersionStatus.LIVE
    assert SourceVersion.objects.get(source=live_v1, number=1).status == VersionStatus.PREVIOUS


@pytest.mark.django_db
def test_corrupt_new_version_leaves_the_old_live(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, b'{"type": "FeatureCollection", "features": [ {"broken')
    outcome = run_update(live_v1)
    version = outcome.version
    assert version.status == VersionStatus.FAILED
    assert version.error["stage"] == "ingest" and version.error["message"]
    assert SourceVersion.objects.get(source=live_v1, number=1).status == VersionStatus.LIVE
    assert _names("managed_src") == ["a", "b", "c"]
    assert not features_sql.table_exists("managed_src__v2")
    assert _bronze_blobs(live_v1) == ["managed/src/v1/places.geojson"]
    live_v1.refresh_from_db()
    assert live_v1.last_error["stage"] == "ingest" and live_v1.last_error["version"] == 2


@pytest.mark.django_db
def test_source_answering_500_fails_the_check_cleanly(live_v1: Any, source_server: Any) -> None:
    source_server.fail(PATH, 500)
    with pytest.raises(CheckFailed, match="500"):
        services.update_trigger(source=live_v1)
    live_v1.refresh_from_db()
    assert live_v1.last_error["stage"] == "check"
    assert SourceVersion.objects.filter(source=live_v1).count() == 1


@pytest.mark.django_db
def test_hanging_source_fails_within_the_timeout(live_v1: Any, source_server: Any, settings: Any) -> None:
    settings.GEOPLATFORM_MANAGED_HTTP_TIMEOUT = 0.5
    source_server.hang(PATH)
    with pytest.raises(CheckFailed, match="no answer"):
        services.update_trigger(source=live_v1)


@pytest.mark.django_db
def test_body_cut_short_is_resumed_with_range(source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    source_server.cut(PATH, 100, times=1)
    outcome = run_update(make_source(url))
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error
    ranged = [h for method, path, h in source_server.log if method == "GET" and "Range" in h]
    assert ranged and ranged[0]["Range"] == "bytes=100-"


@pytest.mark.django_db
def test_body_cut_short_without_range_fails_the_download(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, geojson(V2))
    source_server.cut(PATH, 100)
    source_server.disable_range(PATH)
    outcome = run_update(live_v1)
    assert outcome.version.status == VersionStatus.FAILED
    assert outcome.version.error["stage"] == "download"
    assert "stopped after 100" in outcome.version.error["message"]
    assert _bronze_blobs(live_v1) == ["managed/src/v1/places.geojson"]
    assert _names("managed_src") == ["a", "b", "c"]


@pytest.mark.django_db
def test_rollback_restores_the_previous_version(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, geojson(V2))
    run_update(live_v1)
    back = services.version_rollback(source=live_v1)
    assert back.number == 1 and back.status == VersionStatus.LIVE
    assert SourceVersion.objects.get(source=live_v1, number=2).status == VersionStatus.ROLLED_BACK
    assert _names("managed_src") == ["a", "b", "c"]
    assert not features_sql.table_exists("managed_src__v2")  # a rolled-back version's data goes
    with pytest.raises(NothingToRollBack):
        services.version_rollback(source=live_v1)


@pytest.mark.django_db
def test_schema_change_is_held_for_review_then_approved(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, geojson(V2, extra="iucn"))
    outcome = run_update(live_v1)
    held = outcome.version
    assert held.status == VersionStatus.HELD
    assert "schema" in held.diff["trips"] and held.diff["schema"]["added"] == ["iucn"]
    assert _names("managed_src") == ["a", "b", "c"]  # readers still see the live version
    services.version_approve(version=held, note="expected: new column")
    held.refresh_from_db()
    assert held.status == VersionStatus.LIVE and held.review_note == "expected: new column"
    assert _names("managed_src") == ["a2", "b2", "c2"]


@pytest.mark.django_db
def test_count_change_beyond_threshold_is_held_and_rejected(live_v1: Any, source_server: Any) -> None:
    source_server.put(PATH, geojson([*V1, ("d", 1.0, 1.0), ("e", 3.0, 1.0)]))
    held = run_update(live_v1).version
    assert held.status == VersionStatus.HELD and "count.rows" in held.diff["trips"]
    services.version_reject(version=held, note="too many")
    held.refresh_from_db()
    assert held.status == VersionStatus.REJECTED and held.blobs == []
    assert not features_sql.table_exists("managed_src__v2")
    assert SourceVersion.objects.get(source=live_v1, number=1).status == VersionStatus.LIVE


@pytest.mark.django_db
def test_review_policy_holds_every_new_version(source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    outcome = run_update(make_source(url, review_policy="review"))
    assert outcome.version.status == VersionStatus.HELD
    assert not VectorDataset.objects.filter(pk="managed_src").exists()


@pytest.mark.django_db
def test_older_versions_are_retired_beyond_the_kept_ones(live_v1: Any, source_server: Any) -> None:
    for rows in (V2, [("x", 0.0, 0.0), ("y", 2.0, 0.0), ("z", 4.0, 2.0)]):
        source_server.put(PATH, geojson(rows))
        assert run_update(live_v1).version.status == VersionStatus.LIVE
    statuses = dict(SourceVersion.objects.filter(source=live_v1).values_list("number", "status"))
    assert statuses == {1: "retired", 2: "previous", 3: "live"}
    assert not features_sql.table_exists("managed_src__v1")
    assert sorted(_bronze_blobs(live_v1)) == ["managed/src/v2/places.geojson", "managed/src/v3/places.geojson"]


@pytest.mark.django_db
def test_token_from_the_credentials_setting(source_server: Any, make_source: Any, settings: Any) -> None:
    settings.MANAGED_TEST_TOKEN = "s3cret"
    source_server.require_token("/data/", "s3cret")
    url = source_server.put(PATH, geojson(V1))
    outcome = run_update(make_source(url, credentials_setting="MANAGED_TEST_TOKEN"))
    assert outcome.version.status == VersionStatus.LIVE, outcome.version.error


@pytest.mark.django_db
def test_missing_token_fails_the_download_saying_what_to_fix(source_server: Any, make_source: Any) -> None:
    source_server.require_token("/data/", "s3cret")
    url = source_server.put(PATH, geojson(V1))
    version = run_update(make_source(url)).version  # a first run checks nothing: the download is refused
    assert version.status == VersionStatus.FAILED and version.error["stage"] == "download"
    assert "refused access (401)" in version.error["message"]


STYLE = {
    "metadata": {"title": "By name"},
    "stylingRules": [
        {
            "name": "a",
            "selector": {"op": "=", "args": [{"property": "name"}, "a2"]},
            "symbolizer": {"fill": {"color": [213, 94, 0]}},
        }
    ],
}


@pytest.mark.django_db
def test_the_sources_style_is_the_collections_default_after_each_swap(source_server: Any, make_source: Any) -> None:
    from styles import selectors as style_selectors

    url = source_server.put(PATH, geojson(V1))
    source = make_source(url, style=STYLE)
    run_update(source)
    source_server.put(PATH, geojson(V2))
    run_update(source)
    default = style_selectors.style_default(collection_id="managed_src")
    assert default is not None and default.style_id == "managed" and default.title == "By name"


@pytest.mark.django_db
def test_a_failed_swap_fails_the_version_and_removes_its_data(source_server: Any, make_source: Any) -> None:
    url = source_server.put(PATH, geojson(V1))
    source = make_source(url)
    # Someone loads a collection under the stable id after the source was made.
    VectorDataset.objects.create(collection_id="managed_src", geometry_type="MultiPolygon")
    version = run_update(source).version
    assert version.status == VersionStatus.FAILED and version.error["stage"] == "swap"
    assert "exists already" in version.error["message"]
    assert not features_sql.table_exists("managed_src__v1")
    assert VectorDataset.objects.filter(pk="managed_src").exists()  # theirs, untouched
    assert _bronze_blobs(source) == []
    # A second watcher finds nothing to do.
    assert services.version_advance(version_id=version.pk) == VersionStatus.FAILED


MINE = {
    "metadata": {"title": "Mine"},
    "stylingRules": [{"name": "all", "symbolizer": {"fill": {"color": [0, 114, 178]}}}],
}


@pytest.mark.django_db
def test_styles_people_added_stay_across_swaps_and_rollback(source_server: Any, make_source: Any) -> None:
    """Only the source's own style (``managed``) is replaced at a swap; the platform's generated
    style is remade for the new data unless a person edited it; a person's default stays."""
    from styles import selectors as style_selectors
    from styles import services as style_services

    def styles() -> dict[str, Any]:
        return {s.style_id: s for s in style_selectors.style_list(collection_id="managed_src")}

    url = source_server.put(PATH, geojson(V1))
    source = make_source(url, style=STYLE)
    run_update(source)
    style_services.style_create(collection_id="managed_src", style_id="mine", doc=MINE)
    edited = {**MINE, "metadata": {"title": "Generated, edited"}}
    style_services.style_replace(collection_id="managed_src", style_id="generated", doc=edited)

    source_server.put(PATH, geojson(V2))
    assert run_update(source).version.status == VersionStatus.LIVE
    after = styles()
    assert set(after) == {"generated", "managed", "mine"}
    assert after["mine"].cartosym == MINE and after["generated"].title == "Generated, edited"
    assert not after["generated"].generated  # still the person's
    assert after["managed"].is_default and after["managed"].title == "By name"

    # A person makes their style the default: the next swap (and a rollback) leaves it so.
    style_services.style_replace(collection_id="managed_src", style_id="mine", doc=MINE, default=True)
    source_server.put(PATH, geojson(V1))
    assert run_update(source).version.status == VersionStatus.LIVE
    assert style_selectors.style_default(collection_id="managed_src").style_id == "mine"
    assert styles()["managed"].title == "By name"
    services.version_rollback(source=source)
    assert set(styles()) == {"generated", "managed", "mine"}
    assert style_selectors.style_default(collection_id="managed_src").style_id == "mine"


@pytest.mark.django_db
def test_h3_statistics_of_the_collection_are_computed_again_after_a_swap_and_a_rollback(
    live_v1: Any, source_server: Any
) -> None:
    """Statistics computed from the stable collection follow its live version (issue 15:
    "H3 statistics that depend on it are refreshed")."""
    from h3grid.models import StatDataset
    from ingest.models import Job
    from ingest.services import job_submit
    from tests.ingest.inline import run_inline

    first = job_submit(
        job_type="h3_vector_aggregation",
        parameters={"dataset": "src-points", "collection_id": "managed_src", "resolutions": [4], "land_only": False},
    ).job
    run_inline(first.id)
    assert Job.objects.get(pk=first.id).status == "completed"
    computed = StatDataset.objects.get(slug="src-points").computed_at

    source_server.put(PATH, geojson(V2))
    version = run_update(live_v1).version
    assert version.status == VersionStatus.LIVE
    again = version.job_ids["h3"]["src-points"]
    assert again != first.id and Job.objects.get(pk=again).parameters["overwrite"] is True
    run_inline(again)
    dataset = StatDataset.objects.get(slug="src-points")
    assert dataset.job_id == again and dataset.computed_at > computed

    back = services.version_rollback(source=live_v1)  # the old data live again: computed again
    assert back.job_ids["h3"] == {"src-points": again}
    assert Job.objects.get(pk=again).status in {"queued", "running"}  # forced to run once more
