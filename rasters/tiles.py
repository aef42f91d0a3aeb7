"""The real work of the read path: rio-tiler readers over stored COGs, rendered to bytes.

Every rio-tiler / rasterio failure that a caller can cause (a tile outside the raster, a bad
expression, a band that does not exist, a shape outside the bounds) becomes a domain error
with a message here, so the API answers 4xx with JSON and never a 500.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import morecantile
import numpy as np
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from rio_tiler import errors as rt_errors
from rio_tiler.colormap import apply_cmap
from rio_tiler.colormap import cmap as colormaps
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from shapely.geometry import shape
from shapely.validation import explain_validity

from geoplatform.errors import ServiceUnavailable
from geoplatform.tms import tms_get

from . import conf, png
from .cog import nodata_problem
from .errors import InvalidRasterRequest, OutsideBounds, RequestTooLarge
from .gdal import gdal_env, pooled_dataset

FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "image/png"),
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
    "tif": ("GTiff", "image/tiff; application=geotiff"),
    "npy": ("NPY", "application/x-binary"),
}
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "gauss", "rms")


@dataclass(frozen=True)
class RenderOptions:
    """What the caller may ask of any image: bands or expression, rescale, colormap, nodata."""

    indexes: tuple[int, ...] | None = None
    expression: str | None = None
    rescale: tuple[tuple[float, float], ...] | None = None
    colormap_name: str | None = None
    nodata: float | None = None
    resampling: str = "nearest"

    def read_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.expression:
            kwargs["expression"] = self.expression
        elif self.indexes:
            kwargs["indexes"] = self.indexes
        return kwargs


def get_tms(tms_id: str) -> morecantile.TileMatrixSet:
    found = tms_get(tms_id)
    if found is None:
        raise InvalidRasterRequest(
            f"Unknown TileMatrixSet {tms_id!r}.", details={"tile_matrix_sets": morecantile.tms.list()}
        )
    return found


@contextlib.contextmanager
def open_reader(
    container: str,
    blob: str,
    *,
    tms_id: str = "WebMercatorQuad",
    options: RenderOptions | None = None,
    version: str = "",
) -> Iterator[Reader]:
    """A rio-tiler Reader over a pooled open dataset (see ``gdal.pooled_dataset``); ``version``
    (the STAC item's update stamp) tells apart two contents of one blob name."""
    opts = options or RenderOptions()
    reader_options: dict[str, Any] = {"resampling_method": opts.resampling}
    if opts.nodata is not None:
        reader_options["nodata"] = opts.nodata
    tms = get_tms(tms_id)
    with (
        gdal_env(),
        _mapped_errors(),
        pooled_dataset(container, blob, version=version) as dataset,
        Reader(dataset.name, dataset=dataset, tms=tms, options=reader_options) as reader,  # type: ignore[arg-type]
    ):
        if opts.nodata is not None:
            problem = nodata_problem(opts.nodata, reader.dataset.dtypes[0])
            if problem:
                raise InvalidRasterRequest(f"nodata: {problem}")
        yield reader


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except (rt_errors.TileOutsideBounds, rt_errors.PointOutsideBounds) as exc:
        raise OutsideBounds(
            str(exc) or "Outside the raster's bounds.", remediation="See /info for the bounds."
        ) from exc
    except (rt_errors.InvalidExpression, rt_errors.InvalidBandName, rt_errors.MissingBands) as exc:
        raise InvalidRasterRequest(
            f"Bad bands or expression: {exc}", remediation="Bands are b1..bN (see /info)."
        ) from exc
    except rt_errors.InvalidBufferSize as exc:
        raise InvalidRasterRequest(str(exc)) from exc
    except rt_errors.MaxArraySizeError as exc:
        raise RequestTooLarge(str(exc)) from exc
    except RasterioIOError as exc:
        # The item names this COG but storage did not deliver it (busy, down, or deleted meanwhile).
        raise ServiceUnavailable(
            f"Could not read the raster from storage: {exc}", remediation="Retry shortly; report it if it persists."
        ) from exc
    except IndexError as exc:
        # rasterio raises IndexError for a band index beyond the count.
        raise InvalidRasterRequest(
            f"Band index out of range: {exc}", remediation="See /info for the band count."
        ) from exc


def render(
    image: ImageData, *, fmt: str, options: RenderOptions, colormap: dict[int, Any] | None = None
) -> tuple[bytes, str]:
    """Rescale, colour and encode an image; JPEG/PNG/WEBP get 8-bit data, tif/npy the values."""
    driver, media_type = FORMATS[fmt]
    if driver in {"PNG", "JPEG", "WEBP"}:
        if options.rescale:
            image.rescale(in_range=list(options.rescale))
        elif image.data.dtype != np.uint8:
            image.rescale(in_range=[_auto_range(image)])
        cmap: Any = colormap
        if options.colormap_name:
            try:
                cmap = colormaps.get(options.colormap_name)
            except rt_errors.InvalidColorMapName as exc:
                raise InvalidRasterRequest(f"Unknown colormap_name {options.colormap_name!r}.") from exc
        if cmap and image.count != 1:
            raise InvalidRasterRequest("A colormap applies to one band; choose one with bidx or expression.")
        if image.count not in (1, 3, 4) and not cmap:
            raise InvalidRasterRequest(
                f"{image.count} bands cannot be drawn as an image; choose 1 or 3 with bidx (e.g. bidx=3,2,1).",
            )
        if image.data.dtype != np.uint8:
            image.data = image.data.astype("uint8")  # type: ignore[misc]
        if driver == "PNG":
            fast = _png(image, cmap)
            if fast is not None:
                return fast, media_type
        return image.render(img_format=driver, colormap=cmap, add_mask=driver != "JPEG"), media_type
    return image.render(img_format=driver), media_type


def _png(image: ImageData, cmap: Any) -> bytes | None:
    """The PNG of ``image`` through :mod:`.png` (same pixels as rio-tiler's render with the
    mask as alpha), or None when the image is not one it handles."""
    data, mask = image.data, image.mask
    if cmap:
        # As rio_tiler.utils.render: RGB from the colormap; alpha = the colormap's where data is valid.
        data, alpha = apply_cmap(data, cmap)
        mask = np.where(mask != 0, alpha, 0).astype(data.dtype)
    return png.encode(data, mask) if png.encodable(data, mask) else None


def _auto_range(image: ImageData) -> tuple[float, float]:
    data = image.array.compressed() if np.ma.isMaskedArray(image.array) else image.data.ravel()
    data = data[np.isfinite(data)] if data.size else data
    if not data.size:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(data, [2, 98]))
    return (lo, hi) if hi > lo else (lo, lo + 1)


def tile(
    container: str,
    blob: str,
    *,
    tms_id: str,
    z: int,
    x: int,
    y: int,
    scale: int,
    options: RenderOptions,
    version: str = "",
) -> tuple[ImageData, dict[int, Any] | None]:
    with open_reader(container, blob, tms_id=tms_id, options=options, version=version) as reader:
        tms = reader.tms
        if z < tms.minzoom or z > tms.maxzoom:
            raise InvalidRasterRequest(f"Zoom {z} is outside {tms.id} ({tms.minzoom}..{tms.maxzoom}).")
        matrix = tms.matrix(z)
        if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
            raise OutsideBounds(f"Tile {z}/{x}/{y} does not exist in {tms.id}.")
        return reader.tile(x, y, z, tilesize=256 * scale, **options.read_kwargs()), reader.colormap or None


def info(container: str, blob: str, *, version: str = "") -> dict[str, Any]:
    with open_reader(container, blob, version=version) as reader:
        data = reader.info().model_dump(exclude_none=True)
        data["bounds_wgs84"] = list(reader.get_geographic_bounds(CRS.from_epsg(4326)))
        data["minzoom"], data["maxzoom"] = reader.minzoom, reader.maxzoom
        return data


def statistics(
    container: str, blob: str, *, options: RenderOptions, categorical: bool, max_size: int, version: str = ""
) -> dict[str, Any]:
    with open_reader(container, blob, options=options, version=version) as reader:
        stats = reader.statistics(categorical=categorical, max_size=max_size, **options.read_kwargs())
        return {band: s.model_dump() for band, s in stats.items()}


def point(
    container: str, blob: str, *, lon: float, lat: float, options: RenderOptions, version: str = ""
) -> dict[str, Any]:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidRasterRequest("lon must be within -180..180 and lat within -90..90 (EPSG:4326).")
    with open_reader(container, blob, options=options, version=version) as reader:
        pt = reader.point(lon, lat, **options.read_kwargs())
    masked = np.ma.getmaskarray(pt.array)
    values: list[float | int | None] = []
    for value, is_masked in zip(pt.array.data.tolist(), masked.tolist(), strict=True):
        if is_masked or (isinstance(value, float) and not math.isfinite(value)):
            values.append(None)
        else:
            values.append(value)
    return {"coordinates": [lon, lat], "values": values, "band_names": list(pt.band_names)}


def parse_bbox(value: str, *, crs: CRS) -> tuple[float, float, float, float]:
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError as exc:
        raise InvalidRasterRequest("bbox must be four numbers: minx,miny,maxx,maxy.") from exc
    if len(parts) != 4 or not all(math.isfinite(v) for v in parts):
        raise InvalidRasterRequest("bbox must be four finite numbers: minx,miny,maxx,maxy.")
    minx, miny, maxx, maxy = parts
    if minx >= maxx or miny >= maxy:
        raise InvalidRasterRequest("bbox must have minx < maxx and miny < maxy.")
    if crs.is_geographic and (minx < -180 or maxx > 180 or miny < -90 or maxy > 90):
        raise InvalidRasterRequest("bbox in degrees must be within -180,-90,180,90.")
    return (minx, miny, maxx, maxy)


def _guard_size(width: int, height: int) -> None:
    limit = int(conf.get("EXTRACT_MAX_PIXELS"))
    if width < 1 or height < 1:
        raise InvalidRasterRequest("width and height must be at least 1.")
    if width * height > limit:
        raise RequestTooLarge(
            f"The output would be {width} x {height} = {width * height} pixels; the limit is {limit}.",
            remediation="Ask for a smaller bbox or pass smaller width/height (or max_size).",
        )


def _native_size(reader: Reader, bbox: Sequence[float], bbox_crs: CRS) -> tuple[int, int]:
    """Output size at the dataset's own resolution (to check the guard before reading)."""
    minx, miny, maxx, maxy = transform_bounds(bbox_crs, reader.crs, *bbox, densify_pts=21)
    res_x = (reader.bounds[2] - reader.bounds[0]) / float(reader.width or 1)
    res_y = (reader.bounds[3] - reader.bounds[1]) / float(reader.height or 1)
    return max(1, round((maxx - minx) / res_x)), max(1, round((maxy - miny) / res_y))


def _check_intersects(reader: Reader, bbox: Sequence[float], bbox_crs: CRS) -> None:
    minx, miny, maxx, maxy = transform_bounds(bbox_crs, reader.crs, *bbox, densify_pts=21)
    b = reader.bounds
    if maxx <= b[0] or minx >= b[2] or maxy <= b[1] or miny >= b[3]:
        raise OutsideBounds(
            "The requested area does not intersect the raster.", remediation="See /info for the bounds."
        )


def extract(
    container: str,
    blob: str,
    *,
    bbox: tuple[float, float, float, float],
    bbox_crs: CRS,
    width: int | None,
    height: int | None,
    max_size: int | None,
    options: RenderOptions,
    version: str = "",
) -> tuple[ImageData, dict[int, Any] | None]:
    with open_reader(container, blob, options=options, version=version) as reader:
        _check_intersects(reader, bbox, bbox_crs)
        if width and height:
            _guard_size(width, height)
        elif max_size:
            _guard_size(max_size, max_size)
        else:
            _guard_size(*_native_size(reader, bbox, bbox_crs))
        image = reader.part(
            bbox,
            bounds_crs=bbox_crs,
            dst_crs=bbox_crs,
            width=width,
            height=height,
            max_size=None if (width and height) else max_size,
            **options.read_kwargs(),
        )
        return image, reader.colormap or None


def clip(
    container: str,
    blob: str,
    *,
    geometry: dict[str, Any],
    width: int | None,
    height: int | None,
    max_size: int | None,
    options: RenderOptions,
    version: str = "",
) -> tuple[ImageData, dict[int, Any] | None]:
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise InvalidRasterRequest(f"Not a GeoJSON geometry: {exc}") from exc
    if geom.is_empty or geom.geom_type not in {"Polygon", "MultiPolygon"}:
        raise InvalidRasterRequest("The geometry must be a non-empty Polygon or MultiPolygon (EPSG:4326).")
    if not geom.is_valid:
        raise InvalidRasterRequest(f"The geometry is invalid: {explain_validity(geom)}.")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidRasterRequest("Coordinates must be lon/lat degrees (EPSG:4326).")
    wgs84 = CRS.from_epsg(4326)
    with open_reader(container, blob, options=options, version=version) as reader:
        _check_intersects(reader, geom.bounds, wgs84)
        if width and height:
            _guard_size(width, height)
        elif max_size:
            _guard_size(max_size, max_size)
        else:
            _guard_size(*_native_size(reader, geom.bounds, wgs84))
        image = reader.feature(
            geometry,
            shape_crs=wgs84,
            dst_crs=wgs84,
            width=width,
            height=height,
            max_size=None if (width and height) else max_size,
            **options.read_kwargs(),
        )
        return image, reader.colormap or None


def preview(
    container: str, blob: str, *, max_size: int, options: RenderOptions, version: str = ""
) -> tuple[ImageData, dict[int, Any] | None]:
    limit = int(conf.get("PREVIEW_MAX_SIZE"))
    if max_size < 1 or max_size > limit:
        raise InvalidRasterRequest(f"max_size must be within 1..{limit}.")
    with open_reader(container, blob, options=options, version=version) as reader:
        return reader.preview(max_size=max_size, **options.read_kwargs()), reader.colormap or None


def tilejson(
    container: str,
    blob: str,
    *,
    tms_id: str,
    tiles_url: str,
    minzoom: int | None,
    maxzoom: int | None,
    version: str = "",
) -> dict[str, Any]:
    with open_reader(container, blob, tms_id=tms_id, version=version) as reader:
        west, south, east, north = reader.get_geographic_bounds(CRS.from_epsg(4326))
        lo = reader.minzoom if minzoom is None else minzoom
        hi = reader.maxzoom if maxzoom is None else maxzoom
    return {
        "tilejson": "3.0.0",
        "name": blob,
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": lo,
        "maxzoom": hi,
        "bounds": [west, south, east, north],
        "center": [(west + east) / 2, (south + north) / 2, lo],
    }
