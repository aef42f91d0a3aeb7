"""CartoSym-JSON validation and its translations (MapLibre checked by gl-style-validate)."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from styles import cartosym, defaults, encodings, sld
from styles.errors import InvalidStyle, Untranslatable

from .conftest import GL_VALIDATE

RICH: dict[str, Any] = {
    "metadata": {"title": "rich"},
    "stylingRules": [
        {"name": "base", "symbolizer": {"fill": {"color": [200, 200, 200], "opacity": 0.5}}},
        {
            "name": "parks",
            "selector": {"op": "=", "args": [{"property": "kind"}, "park"]},
            "symbolizer": {
                "fill": {"color": [0, 158, 115]},
                "stroke": {"color": "darkGray", "width": {"px": 2}, "dashPattern": [4, 2]},
            },
        },
        {
            "name": "big near",
            "selector": {
                "op": "and",
                "args": [
                    {"op": "<", "args": [{"sysId": "viz.sd"}, 1_000_000]},
                    {"op": "between", "args": [{"property": "size"}, 50, 100]},
                    {"op": "or", "args": [
                        {"op": "in", "args": [{"property": "kind"}, ["lake", "forest"]]},
                        {"op": "not", "args": [{"op": "isNull", "args": [{"property": "name"}]}]},
                    ]},
                ],
            },
            "symbolizer": {"stroke": {"color": {"r": 213, "g": 94, "b": 0}, "width": 3, "opacity": 0.8}},
        },
        {
            "name": "areas",
            "selector": {"op": "like", "args": [{"property": "name"}, "area%"]},
            "symbolizer": {"marker": {"elements": [{"type": "Circle", "radius": 4, "fill": {"color": "red"}}]}},
        },
        {"name": "graduated", "selector": {"op": ">=", "args": [{"property": "size"}, 100]}, "symbolizer": {"opacity": 0.9, "fill": {"color": [0, 0, 0]}}},
    ],
}  # fmt: skip


def gl_validate(style: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert GL_VALIDATE.exists(), "npm @maplibre/maplibre-gl-style-spec in .cache/maplibre (scripts/setup.sh test)"
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style))
    return subprocess.run([str(GL_VALIDATE), str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_schema_accepts_rich_and_refuses_bad_colour() -> None:
    assert cartosym.validate(RICH) is RICH
    with pytest.raises(InvalidStyle, match="stylingRules/0/symbolizer/fill"):
        cartosym.validate({"stylingRules": [{"symbolizer": {"fill": {"color": "#ff0000"}}}]})
    with pytest.raises(InvalidStyle):
        cartosym.validate([1])


def test_mapbox_translation_passes_gl_style_validate(tmp_path: Path) -> None:
    style = encodings.to_mapbox(RICH, name="rich", source_url="http://x/items?f=json", bounds=[0, 0, 2, 2])
    kinds = [(layer["id"], layer["type"]) for layer in style["layers"]]
    assert ("r1-fill", "fill") in kinds and ("r1-line", "line") in kinds and ("r3-marker", "circle") in kinds
    parks = next(layer for layer in style["layers"] if layer["id"] == "r1-line")
    assert parks["paint"]["line-dasharray"] == [2, 1] and parks["paint"]["line-color"] == "darkgray"
    near = next(layer for layer in style["layers"] if layer["id"] == "r2-line")
    assert near["minzoom"] == pytest.approx(8.127, abs=0.01) and near["paint"]["line-color"] == "#d55e00"
    proc = gl_validate(style, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the API's form: over vector tiles (a TileJSON URL), each layer naming the tiles' layer
    tiled = encodings.to_mapbox(RICH, name="rich", source_url="http://x/tiles?f=tilejson", source_layer="parks")
    assert tiled["sources"]["collection"] == {"type": "vector", "url": "http://x/tiles?f=tilejson"}
    assert all(layer["source-layer"] == "parks" for layer in tiled["layers"])
    proc = gl_validate(tiled, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_labels_need_glyphs(tmp_path: Path) -> None:
    doc = {"stylingRules": [{"name": "names", "symbolizer": {"label": {"elements": [
        {"type": "Text", "text": {"property": "name"}, "font": {"size": 11, "color": "black"}}]}}}]}  # fmt: skip
    with pytest.raises(Untranslatable, match=r"'names'.*GEOPLATFORM_STYLES_GLYPHS_URL"):
        encodings.to_mapbox(doc, name="n", source_url="http://x/")
    style = encodings.to_mapbox(doc, name="n", source_url="http://x/", glyphs="http://x/fonts/{fontstack}/{range}.pbf")
    assert style["layers"][0]["layout"]["text-field"] == ["to-string", ["get", "name"]]
    assert gl_validate(style, tmp_path).returncode == 0
    assert encodings.to_leaflet(doc, name="n")["rules"][0]["label"]["property"] == "name"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"selector": {"op": "like", "args": [{"property": "n"}, "a_b"]}, "symbolizer": {"fill": {"color": "red"}}}, "like pattern"),
        ({"selector": {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [0, 0, 1, 1]}]}, "symbolizer": {"fill": {"color": "red"}}}, "s_intersects"),
        ({"symbolizer": {"fill": {"color": {"property": "colour"}}}}, "literal"),
        ({"symbolizer": {"marker": {"elements": [{"type": "Image", "uri": "x.png"}]}}}, "Circle and Dot"),
    ],
)  # fmt: skip
def test_untranslatable_rules_are_named(rule: dict[str, Any], message: str) -> None:
    doc = {"stylingRules": [{"name": "the rule", **rule}]}
    with pytest.raises(Untranslatable, match=rf"'the rule'.*{message}|{message}.*"):
        encodings.to_mapbox(doc, name="n", source_url="http://x/")


def test_leaflet_keeps_cql2_and_path_options() -> None:
    out = encodings.to_leaflet(RICH, name="rich")
    parks = out["rules"][1]
    assert parks["filter"] == {"op": "=", "args": [{"property": "kind"}, "park"]}
    assert parks["path"] == {"opacity": 1.0, "fill": True, "fillColor": "#009e73", "fillOpacity": 1.0, "stroke": True,
                             "color": "darkgray", "weight": 2.0, "dashArray": "4 2"}  # fmt: skip
    assert out["rules"][2]["minZoom"] == pytest.approx(8.127, abs=0.01)
    # the rule's scale comparison is a zoom range, not part of the filter
    assert "viz.sd" not in json.dumps(out["rules"][2]["filter"])


def test_sld_11() -> None:
    root = ET.fromstring(sld.to_sld(RICH, layer="areas", name="rich"))  # noqa: S314 (our own output)
    assert root.get("version") == "1.1.0"
    ns = {"se": sld.SE, "ogc": sld.OGC}
    rules = root.findall(".//se:Rule", ns)
    assert len(rules) == 5
    assert rules[2].find("se:MaxScaleDenominator", ns).text == "1e+06"  # type: ignore[union-attr]
    assert rules[2].find(".//ogc:PropertyIsBetween", ns) is not None
    assert rules[1].find(".//se:SvgParameter[@name='stroke-dasharray']", ns).text == "4 2"  # type: ignore[union-attr]


def test_default_styles_by_data(tmp_path: Path) -> None:
    attrs = [{"name": "name", "type": "text"}, {"name": "kind", "type": "text"}]
    values = {"name": None, "kind": ["a", "b", "c"]}
    doc = defaults.default_style(
        title="t", geometry_type="MultiPolygon", attributes=attrs, classes=lambda c, n: values[c]
    )
    cartosym.validate(doc)
    assert [r["name"] for r in doc["stylingRules"]] == ["other", "a", "b", "c"]
    assert doc["stylingRules"][1]["symbolizer"]["fill"]["color"] == defaults.rgb(defaults.OKABE_ITO[0])
    single = defaults.default_style(title="t", geometry_type="Point", attributes=attrs, classes=lambda c, n: None)
    assert list(single["stylingRules"][0]["symbolizer"]) == ["marker"]
    assert defaults.palette(10) == defaults.TOL_MUTED[:10]
    line = encodings.to_mapbox(
        defaults.default_style(title="t", geometry_type="LineString", attributes=[], classes=lambda c, n: None),
        name="l",
        source_url="http://x/",
    )
    assert [layer["type"] for layer in line["layers"]] == ["line"]
    assert gl_validate(line, tmp_path).returncode == 0
