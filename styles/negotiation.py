"""Which encoding of a style a request asks for (``f=`` first, then Accept)."""

from __future__ import annotations

from .errors import InvalidStyle, NotAcceptable

ENCODINGS = ("cartosym", "mapbox", "leaflet", "sld", "html")
_F = {"cartosym": "cartosym", "json": "cartosym", "mapbox": "mapbox", "leaflet": "leaflet", "sld": "sld",
      "sld11": "sld", "html": "html"}  # fmt: skip


def _encoding_of(media: str, params: dict[str, str]) -> str | None:
    if media in ("application/vnd.ogc.cartosym+json", "application/json", "*/*", "application/*"):
        return "cartosym"
    if media == "application/vnd.mapbox.style+json":
        return "mapbox"
    if media == "application/vnd.geoplatform.leaflet-style+json":
        return "leaflet"
    if media in ("application/vnd.ogc.sld+xml", "application/vnd.ogc.se+xml"):
        return "sld" if params.get("version", "1.1").startswith("1.1") else None  # SLD 1.0: not produced
    if media == "text/html":
        return "html"
    return None


def choose(f: str | None, accept: str) -> str:
    if f:
        if f.lower() not in _F:
            if f.lower() in ("sld10", "sld1.0"):
                raise NotAcceptable("SLD 1.0 is not produced; ask for f=sld (SLD 1.1).")
            raise InvalidStyle(f"Unknown format f={f!r}; use one of cartosym, mapbox, leaflet, sld, html.")
        return _F[f.lower()]
    if not accept.strip():
        return "cartosym"
    offers: list[tuple[float, int, str | None, str]] = []
    for index, part in enumerate(accept.split(",")):
        media, *raw = [p.strip() for p in part.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0:
            offers.append((-q, index, _encoding_of(media.lower(), params), media))
    for _, _, encoding, _ in sorted(offers, key=lambda o: (o[0], o[1])):
        if encoding is not None:
            return encoding
    raise NotAcceptable(
        f"None of the media types accepted ({accept[:200]}) is served; styles are served as "
        "application/vnd.ogc.cartosym+json;version=1.0, application/vnd.mapbox.style+json, "
        "application/vnd.geoplatform.leaflet-style+json;version=1, application/vnd.ogc.sld+xml;version=1.1, text/html."
    )
