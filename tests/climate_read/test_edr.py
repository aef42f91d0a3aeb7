"""OGC API EDR routes over real NetCDF fixtures: documents, queries, every output, errors."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import xarray as xr

from tests.climate_read.conftest import A1B, OBS

pytestmark = pytest.mark.usefixtures("registered")


def get(client: Any, path: str, **params: Any) -> Any:
    return client.get(f"/api/edr/{path}", params)


def test_landing_and_conformance(client: Any) -> None:
    landing = get(client, "").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "conformance", "data", "service-desc"} <= rels
    conforms = get(client, "conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-edr-1/1.1/conf/covjson" in conforms
    assert not any("instances" in c for c in conforms)


def test_collections_describe_queries_parameters_and_calendar(client: Any) -> None:
    body = get(client, "collections").json()
    by_id = {c["id"]: c for c in body["collections"]}
    a1b = by_id[A1B]
    assert set(a1b["data_queries"]) == {"position", "area", "cube"}
    assert a1b["parameter_names"]["air_temperature"]["unit"]["symbol"] == "K"
    temporal = a1b["extent"]["temporal"]
    assert temporal["calendar"] == "360_day"
    assert temporal["interval"] == [["1860-06-01T00:00:00Z", "2099-06-01T00:00:00Z"]]
    west, _, east, _ = a1b["extent"]["spatial"]["bbox"][0]
    assert west == pytest.approx(-97.5) and east < -69  # 0-360 longitudes answered in -180..180
    assert set(by_id[OBS]["parameter_names"]) == {"pr", "tas"}
    one = get(client, f"collections/{A1B}").json()
    assert one["id"] == A1B
    preview = [link["href"] for link in one["links"] if link["rel"] == "preview"]
    assert preview == ["http://testserver/api/xarray/tests/a1b/viewer"]


def test_position_coveragejson_valid_and_0_360(client: Any, covjson_validator: Any) -> None:
    response = get(client, f"collections/{A1B}/position", coords="POINT(-75 35)")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/prs.coverage+json"
    doc = response.json()
    covjson_validator.validate(doc)
    assert doc["domain"]["domainType"] == "PointSeries"
    axes = doc["domain"]["axes"]
    assert len(axes["t"]["values"]) == 240
    assert axes["x"]["values"][0] == pytest.approx(-75.0, abs=1.0)  # the 285° cell
    values = doc["ranges"]["air_temperature"]["values"]
    assert len(values) == 240 and all(200 < v < 330 for v in values)
    assert doc["parameters"]["air_temperature"]["unit"]["symbol"] == "K"
    calendar = doc["domain"]["referencing"][1]["system"]["calendar"]
    assert calendar.endswith("360_day")
    # The same cell through xarray directly.
    ds = xr.open_dataset(
        "tests/fixtures/climate_read/a1b_small.nc", decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)
    )
    expected = ds.air_temperature.sel(longitude=285, latitude=35, method="nearest").values
    assert values[0] == pytest.approx(float(expected[0]))


def test_position_datetime_interval_360_day(client: Any) -> None:
    doc = get(client, f"collections/{A1B}/position", coords="POINT(285 35)", datetime="2000-01-01/2009-12-30").json()
    times = doc["domain"]["axes"]["t"]["values"]
    assert times[0] == "2000-06-01T00:00:00Z" and times[-1] == "2009-06-01T00:00:00Z"
    # 30 February exists in a 360_day calendar.
    one = get(client, f"collections/{A1B}/position", coords="POINT(285 35)", datetime="1990-02-30").json()
    assert one["domain"]["axes"]["t"]["values"] == ["1990-06-01T00:00:00Z"]
    open_end = get(client, f"collections/{A1B}/position", coords="POINT(285 35)", datetime="2095-01-01/..").json()
    assert len(open_end["domain"]["axes"]["t"]["values"]) == 5


def test_position_standard_calendar_two_parameters(client: Any, covjson_validator: Any) -> None:
    doc = get(client, f"collections/{OBS}/position", coords="POINT(-80 35)", datetime="1999-03-01/1999-05-31").json()
    covjson_validator.validate(doc)
    assert set(doc["ranges"]) == {"pr", "tas"}
    assert doc["domain"]["axes"]["t"]["values"] == [
        "1999-03-31T00:00:00Z",
        "1999-04-30T00:00:00Z",
        "1999-05-31T00:00:00Z",
    ]
    only = get(client, f"collections/{OBS}/position", coords="POINT(-80 35)", **{"parameter-name": "tas"}).json()
    assert set(only["ranges"]) == {"tas"}


def test_position_csv_geojson_netcdf(client: Any) -> None:
    path = f"collections/{A1B}/position"
    text = get(client, path, coords="POINT(-75 35)", f="CSV").content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["longitude", "latitude", "datetime", "air_temperature [K]"]
    assert len(rows) == 241
    geo = get(client, path, coords="POINT(-75 35)", f="GeoJSON", datetime="2000-01-01/2001-12-30")
    assert geo["Content-Type"] == "application/geo+json"
    features = geo.json()["features"]
    assert len(features) == 2 and features[0]["properties"]["units"] == {"air_temperature": "K"}
    nc = get(client, path, coords="POINT(-75 35)", f="NetCDF")
    assert nc["Content-Type"] == "application/x-netcdf"
    ds = xr.open_dataset(
        io.BytesIO(nc.content), engine="h5netcdf", decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)
    )
    assert ds.air_temperature.shape == (240, 1, 1)
    assert ds.time.values[0].calendar == "360_day"


def test_area_polygon_masks_cells_outside(client: Any, covjson_validator: Any) -> None:
    triangle = "POLYGON((-95 28,-72 28,-95 41,-95 28))"
    response = get(client, f"collections/{A1B}/area", coords=triangle, datetime="2000-01-01/2004-12-30")
    assert response.status_code == 200, response.content
    doc = response.json()
    covjson_validator.validate(doc)
    assert doc["domain"]["domainType"] == "Grid"
    rng = doc["ranges"]["air_temperature"]
    assert rng["axisNames"] == ["t", "y", "x"] and rng["shape"][0] == 5
    assert None in rng["values"] and any(v is not None for v in rng["values"])
    csv_text = get(
        client, f"collections/{A1B}/area", coords=triangle, datetime="2000-01-01/2000-12-30", f="CSV"
    ).content.decode()
    cells = len(csv_text.strip().splitlines()) - 1
    assert 0 < cells < rng["shape"][1] * rng["shape"][2]
    multi = get(
        client,
        f"collections/{A1B}/area",
        coords="MULTIPOLYGON(((-95 30,-90 30,-90 35,-95 35,-95 30)))",
        datetime="2000-06-01",
    )
    assert multi.status_code == 200


def test_cube_bbox_coveragejson_and_netcdf(client: Any, covjson_validator: Any) -> None:
    path = f"collections/{OBS}/cube"
    doc = get(client, path, bbox="-80,34,-78,36", datetime="1999-01-01/1999-02-28").json()
    covjson_validator.validate(doc)
    shape = doc["ranges"]["tas"]["shape"]
    assert shape[0] == 2 and shape[1] > 10 and shape[2] > 10
    nc = get(
        client, path, bbox="-80,34,-78,36", datetime="1999-01-01/1999-02-28", f="NetCDF", **{"parameter-name": "pr"}
    )
    ds = xr.open_dataset(io.BytesIO(nc.content), engine="h5netcdf")
    assert list(ds.data_vars) == ["pr"] and ds.pr.shape == tuple(shape)
    assert ds.pr.attrs["units"]


def test_html_pages(client: Any) -> None:
    for path in ("", "conformance", "collections", f"collections/{A1B}"):
        response = get(client, path, f="html")
        assert response.status_code == 200 and b"<html" in response.content, path
    assert b'href="http://testserver/api/xarray/tests/a1b/viewer"' in get(client, "collections", f="html").content
    page = get(client, f"collections/{A1B}/position", coords="POINT(-75 35)", f="html")
    assert page.status_code == 200 and b"PointSeries" in page.content


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("position", {"coords": "POINT(-75"}, 400, "not valid WKT"),
        ("position", {}, 400, "coords: required"),
        ("position", {"coords": "POLYGON((0 0,1 0,1 1,0 0))"}, 400, "takes a POINT"),
        ("position", {"coords": "POINT(10 10)"}, 400, "outside this collection's extent"),
        ("position", {"coords": "POINT(-75 35)", "parameter-name": "rain"}, 400, "unknown parameter(s) rain"),
        ("position", {"coords": "POINT(-75 35)", "datetime": "2000-13-01"}, 400, "not a valid date in the 360_day"),
        ("position", {"coords": "POINT(-75 35)", "datetime": "yesterday"}, 400, "not an ISO 8601 date"),
        ("position", {"coords": "POINT(-75 35)", "datetime": "2200-01-01/2300-01-01"}, 400, "no time step"),
        ("position", {"coords": "POINT(-75 35)", "f": "shapefile"}, 400, "not an output of a position query"),
        ("position", {"coords": "POINT(-75 35)", "z": "10"}, 400, "no vertical axis"),
        ("area", {"coords": "POINT(-75 35)"}, 400, "POLYGON or MULTIPOLYGON"),
        ("area", {"coords": "POLYGON((0 0,1 1,0 1,1 0,0 0))"}, 400, "invalid"),
        ("cube", {"bbox": "1,2,3"}, 400, "has 3 numbers"),
        ("cube", {"bbox": "10,10,20,20"}, 400, "no grid cell centre"),
        ("cube", {"bbox": "-96,28,-70,41", "f": "GeoJSON"}, 400, "not an output of a cube query"),
    ],
)
def test_bad_queries_answer_ogc_400(client: Any, path: str, params: dict[str, str], status: int, words: str) -> None:
    response = get(client, f"collections/{A1B}/{path}", **params)
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "description"}
    assert words in body["description"]


def test_unknown_collection_is_404(client: Any) -> None:
    for path in ("collections/nope", "collections/tests~nope/position?coords=POINT(0%200)"):
        response = client.get(f"/api/edr/{path}")
        assert response.status_code == 404
        assert set(response.json()) == {"code", "description"}


def test_too_many_values_is_413(client: Any, settings: Any) -> None:
    settings.GEOPLATFORM_CLIMATE_MAX_VALUES = 100
    response = get(client, f"collections/{A1B}/cube", bbox="-96,28,-70,41")
    assert response.status_code == 413
    assert "more than the limit of 100" in response.json()["description"]


def test_schema_validator_rejects_a_broken_coverage(covjson_validator: Any) -> None:
    from jsonschema import ValidationError

    with pytest.raises(ValidationError):
        covjson_validator.validate(
            {"type": "Coverage", "domain": {"type": "Domain"}, "ranges": {"a": {"type": "NdArray"}}}
        )


def test_closed_reads_need_a_token(client: Any, auth_client: Any, settings: Any) -> None:
    """With GEOPLATFORM_PUBLIC_READ off, EDR and xarray reads answer 401 (OGC body) without a
    token and serve the holder of one, as the features and styles views do."""
    settings.GEOPLATFORM_PUBLIC_READ = False
    anonymous = get(client, f"collections/{A1B}/position", coords="POINT(285 35)")
    assert anonymous.status_code == 401 and anonymous.json()["description"]
    assert client.get(f"/api/xarray/point/{A1B.replace('~', '/')}", {"location": "285,35"}).status_code == 401
    assert get(auth_client, f"collections/{A1B}/position", coords="POINT(285 35)").status_code == 200
