"""OGC API Styles over HTTP, on a collection loaded by the real process_vector job."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from styles.models import Style, StyleRevision
from tests.ingest.inline import submit_inline

from .conftest import load_areas

BASE = "/api/features/collections/areas/styles"
CARTOSYM = "application/vnd.ogc.cartosym+json;version=1.0"
MINE = {"metadata": {"title": "My Parks"}, "stylingRules": [
    {"name": "parks", "selector": {"op": "=", "args": [{"property": "kind"}, "park"]},
     "symbolizer": {"fill": {"color": [213, 94, 0]}}}]}  # fmt: skip


def _editor(*codenames: str) -> APIClient:
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("stylist", password="x")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="styles", codename__in=codenames))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_default_style_made_on_load_and_listed(api_client: APIClient, areas: str) -> None:
    body = api_client.get(BASE).json()
    assert body["default"] == "generated"
    (entry,) = body["styles"]
    types = {link["type"] for link in entry["links"] if link["rel"] == "stylesheet"}
    assert types == {CARTOSYM, "application/vnd.mapbox.style+json", "application/vnd.ogc.sld+xml;version=1.1",
                     "application/vnd.geoplatform.leaflet-style+json;version=1"}  # fmt: skip
    doc = api_client.get(BASE + "/generated?f=cartosym").json()
    # categorical on the 3-class text column: a pale base rule, then one rule per class
    assert [r["name"] for r in doc["stylingRules"]] == ["other", "forest", "lake", "park"]
    assert StyleRevision.objects.filter(collection_id="areas", action="generate").count() == 1
    # features advertises the styles (conformance, collection link) through its hooks
    conformance = api_client.get("/api/features/conformance?f=json").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-styles-1/1.0/conf/mapbox-styles" in conformance
    links = api_client.get("/api/features/collections/areas?f=json").json()["links"]
    assert any(link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/styles" for link in links)


@pytest.mark.django_db
def test_encodings_by_f_and_accept(api_client: APIClient, areas: str) -> None:
    url = BASE + "/generated"
    mapbox = api_client.get(url, HTTP_ACCEPT="application/vnd.mapbox.style+json")
    assert mapbox["Content-Type"] == "application/vnd.mapbox.style+json"
    style = mapbox.json()
    # over the collection's vector tiles (TileJSON), every layer reading the tiles' one layer
    assert style["version"] == 8 and style["sources"]["collection"] == {
        "type": "vector",
        "url": "http://testserver/api/features/collections/areas/tiles/WebMercatorQuad?f=tilejson",
    }
    assert {layer["source-layer"] for layer in style["layers"]} == {"areas"}
    tilejson = api_client.get(style["sources"]["collection"]["url"]).json()
    assert tilejson["vector_layers"][0]["id"] == "areas" and tilejson["tiles"][0].endswith("/{z}/{x}/{y}")
    assert api_client.get(url + "?f=leaflet").json()["rules"][1]["filter"]["args"][1] == "forest"
    sld = api_client.get(url, HTTP_ACCEPT="application/vnd.ogc.sld+xml;version=1.1")
    assert sld.status_code == 200 and b"StyledLayerDescriptor" in sld.content
    assert api_client.get(url, HTTP_ACCEPT="application/vnd.ogc.sld+xml;version=1.0").status_code == 406
    assert api_client.get(url, HTTP_ACCEPT="image/png").status_code == 406
    assert api_client.get(url)["Content-Type"] == CARTOSYM
    html = api_client.get(url, HTTP_ACCEPT="text/html")
    assert html.status_code == 200 and b"Legend" in html.content
    assert api_client.get(url + "?f=bogus").status_code == 400
    first = api_client.get(url + "?f=mapbox")
    assert first["Cache-Control"].startswith("public") and first["ETag"]
    assert api_client.get(url + "?f=mapbox", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    meta = api_client.get(url + "/metadata").json()
    assert meta["id"] == "generated" and meta["layers"] == [{"id": "areas", "type": "polygon"}]
    assert {s["link"]["type"] for s in meta["stylesheets"] if s["native"]} == {CARTOSYM}


@pytest.mark.django_db
def test_not_found(api_client: APIClient, areas: str) -> None:
    assert api_client.get(BASE + "/nope").status_code == 404
    missing = api_client.get("/api/features/collections/nowhere/styles")
    assert missing.status_code == 404 and "code" in missing.json() and "description" in missing.json()


@pytest.mark.django_db
def test_manage_styles(api_client: APIClient, plain_user_client: APIClient, areas: str) -> None:
    assert api_client.post(BASE, MINE, format="json").status_code == 401
    assert plain_user_client.post(BASE, MINE, format="json").status_code == 403
    editor = _editor("add_style", "change_style", "delete_style")
    assert editor.post(BASE + "?validate=only", MINE, format="json").status_code == 204
    assert not Style.objects.filter(style_id="my-parks").exists()
    bad = editor.post(BASE, {"stylingRules": [{"symbolizer": {"fill": {"color": "#f00"}}}]}, format="json")
    assert bad.status_code == 400 and "stylingRules/0/symbolizer/fill" in bad.json()["description"]
    odd = {"stylingRules": [{"name": "odd", "selector": {"op": "like", "args": [{"property": "name"}, "a_"]},
                             "symbolizer": {"fill": {"color": "red"}}}]}  # fmt: skip
    untranslatable = editor.post(BASE, odd, format="json")
    assert untranslatable.status_code == 400 and "'odd'" in untranslatable.json()["description"]
    made = editor.post(BASE + "?default=true", MINE, format="json")
    assert made.status_code == 201 and made["Location"].endswith(BASE + "/my-parks")
    assert editor.post(BASE + "?id=my-parks", MINE, format="json").status_code == 409
    assert api_client.get(BASE).json()["default"] == "my-parks"
    changed = {**MINE, "metadata": {"title": "My Parks v2"}}
    assert editor.put(BASE + "/my-parks", changed, format="json").status_code == 204
    assert api_client.get(BASE + "/my-parks/metadata").json()["version"] == "2"
    sent_xml = editor.put(BASE + "/my-parks", "<x/>", content_type="application/xml")
    assert sent_xml.status_code == 415
    assert editor.delete(BASE + "/my-parks").status_code == 204
    assert api_client.get(BASE).json()["default"] == "generated"  # the remaining style takes over
    history = list(
        StyleRevision.objects.filter(style_id="my-parks").values_list("action", "version", "changed_by__username")
    )
    assert sorted(history) == sorted([("create", 1, "stylist"), ("replace", 2, "stylist"), ("delete", 2, "stylist")])


@pytest.mark.django_db
def test_overwrite_replaces_generated_and_unpublish_removes(api_client: APIClient, areas: str) -> None:
    load_areas(overwrite=True)
    assert Style.objects.get(collection_id="areas", style_id="generated").version == 2
    job = submit_inline("unpublish_vector", {"collection_id": "areas", "dry_run": False})
    assert job.status == "completed"
    assert not Style.objects.filter(collection_id="areas").exists()
    assert StyleRevision.objects.filter(collection_id="areas", action="delete").exists()


@pytest.mark.django_db
def test_items_page_draws_with_the_default_style(api_client: APIClient, areas: Any) -> None:
    page = api_client.get("/api/features/collections/areas/items?f=html").content.decode()
    assert "/styles/generated?f=leaflet" in page and "leaflet-style.js" in page and 'class="legend"' in page


@pytest.mark.django_db
def test_admin_edits_styles_through_the_services(areas: str) -> None:
    from django.test import Client

    admin = get_user_model().objects.create_superuser("admin", "a@example.org", "pw-for-tests-only")
    client = Client()
    client.force_login(admin)
    import json

    added = client.post(
        "/admin/styles/style/add/",
        {"collection_id": "areas", "style_id": "from-admin", "cartosym": json.dumps(MINE), "make_default": "on"},
    )
    assert added.status_code == 302, added.context["adminform"].form.errors
    style = Style.objects.get(collection_id="areas", style_id="from-admin")
    assert style.is_default and style.updated_by == admin
    assert not Style.objects.get(collection_id="areas", style_id="generated").is_default
    bad = client.post(
        f"/admin/styles/style/{style.pk}/change/",
        {"cartosym": json.dumps({"stylingRules": [{"symbolizer": {"fill": {"color": "#f00"}}}]}), "make_default": "on"},
    )
    assert bad.status_code == 200 and b"Not valid CartoSym-JSON" in bad.content
    assert client.get("/admin/styles/stylerevision/").status_code == 200
