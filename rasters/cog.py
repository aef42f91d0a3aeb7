"""The real work of the write path: inspect a raster, detect its type, write validated COGs.

Tiers (``output_tier``):

- ``analysis``: lossless DEFLATE with the predictor for the data type (2 = horizontal
  differencing for integers, 3 = floating point).
- ``visualization``: JPEG (YCbCr) for 3-band 8-bit, WEBP for 4-band 8-bit (keeps alpha);
  anything else falls back to the analysis profile with a warning, because JPEG/WEBP on
  non-8-bit data writes a broken file that still "validates" (see SETUP-NOTES).
- ``archive``: the smallest lossless file: ZSTD at its top level, with the predictor.

Every output is checked with ``rio_cogeo.cogeo.cog_validate()`` (never the CLI exit code),
GDAL errors logged while writing fail the tier, and the file is decoded back once.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import warnings as warnings_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import CRSError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from . import conf
from .errors import CogCreationFailed, InvalidRaster

logger = logging.getLogger(__name__)

TIERS = ("visualization", "analysis", "archive")
OUTPUT_TIERS = (*TIERS, "all")
RASTER_TYPES = ("auto", "rgb", "rgba", "dem", "categorical", "continuous", "multispectral")
_DEM_NAME = re.compile(r"(^|[^a-z])(dem|dtm|dsm|srtm|elev|elevation|height|topo|terrain|bathy)", re.IGNORECASE)
_TIFF_DRIVERS = {"GTiff", "COG"}


@dataclass
class RasterFacts:
    """What pre-flight and the STAC item need to know about a source raster."""

    driver: str
    width: int
    height: int
    count: int
    dtype: str
    crs: str | None
    nodata: float | None
    colorinterp: list[str]
    has_colormap: bool
    bounds: tuple[float, float, float, float]
    transform: list[float]
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "width": self.width,
            "height": self.height,
            "count": self.count,
            "dtype": self.dtype,
            "crs": self.crs,
            "nodata": self.nodata,
            "colorinterp": self.colorinterp,
            "has_colormap": self.has_colormap,
            "bounds": list(self.bounds),
            "transform": self.transform,
        }


def nodata_problem(nodata: float | None, dtype: str) -> str | None:
    if nodata is None:
        return None
    if np.issubdtype(np.dtype(dtype), np.integer):
        if math.isnan(nodata) or math.isinf(nodata):
            return f"nodata {nodata} is not valid for integer data ({dtype})."
        info = np.iinfo(np.dtype(dtype))
        if not (info.min <= nodata <= info.max) or nodata != int(nodata):
            return f"nodata {nodata} cannot be stored in {dtype} (range {info.min}..{info.max})."
    return None


def check_crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise InvalidRaster(
            f"Unknown CRS {value!r}.", code="invalid_crs", remediation="Give an EPSG code such as 'EPSG:4326'."
        ) from exc


def inspect(ds: rasterio.io.DatasetReader, *, crs: str | None = None) -> RasterFacts:
    """Facts and problems of an open dataset (problems are messages a user can act on)."""
    problems: list[str] = []
    if ds.driver not in _TIFF_DRIVERS:
        problems.append(f"The file is a {ds.driver} raster, not a GeoTIFF.")
    if ds.width < 1 or ds.height < 1 or ds.count < 1:
        problems.append("The raster has no pixels or no bands.")
    if ds.width * ds.height > conf.get("MAX_PIXELS"):
        problems.append(
            f"The raster is {ds.width} x {ds.height} pixels, above the limit of {conf.get('MAX_PIXELS')} pixels."
        )
    dtype = ds.dtypes[0]
    if len(set(ds.dtypes)) > 1:
        problems.append(f"Bands have different data types ({', '.join(sorted(set(ds.dtypes)))}).")
    if dtype in {"complex64", "complex128", "complex_int16", "cint16", "cint32", "cfloat32", "cfloat64"}:
        problems.append(f"Complex data ({dtype}) is not supported.")
    if ds.crs is None and not crs:
        problems.append("The raster has no CRS; pass the 'crs' parameter (e.g. 'EPSG:4326').")
    bad_nodata = nodata_problem(ds.nodata, dtype)
    if bad_nodata:
        problems.append(bad_nodata)
    if ds.transform.is_identity and not ds.gcps[0]:
        problems.append("The raster has no georeferencing (identity geotransform).")
    source_crs = ds.crs or (check_crs(crs) if crs else None)
    try:
        has_colormap = bool(ds.colormap(1))
    except ValueError:
        has_colormap = False
    return RasterFacts(
        driver=ds.driver,
        width=ds.width,
        height=ds.height,
        count=ds.count,
        dtype=dtype,
        crs=source_crs.to_string() if source_crs else None,
        nodata=ds.nodata,
        colorinterp=[ci.name for ci in ds.colorinterp],
        has_colormap=has_colormap,
        bounds=tuple(ds.bounds),  # type: ignore[arg-type]
        transform=list(ds.transform)[:6],
        problems=problems,
    )


def open_checked(path: str | Path, *, crs: str | None = None) -> tuple[rasterio.io.DatasetReader, RasterFacts]:
    """Open and inspect a raster; unreadable files raise InvalidRaster with a clear message."""
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise InvalidRaster(
            f"The file is not a readable raster: {exc}",
            remediation="Upload a GeoTIFF (.tif) file; check it opens in QGIS or gdalinfo.",
        ) from exc
    return ds, inspect(ds, crs=crs)


def detect_type(ds: rasterio.io.DatasetReader, *, name: str = "") -> str:
    """rgb, rgba, dem, categorical, continuous or multispectral, from bands, types and values."""
    dtype = ds.dtypes[0]
    interp = list(ds.colorinterp)
    is_int = np.issubdtype(np.dtype(dtype), np.integer)
    if ds.count == 1:
        try:
            if ds.colormap(1):
                return "categorical"
        except ValueError:
            pass
        if interp[0] == ColorInterp.palette:
            return "categorical"
        sample = _sample(ds)
        if _DEM_NAME.search(Path(name).stem) or _looks_like_dem(ds, sample):
            return "dem"
        if is_int and sample.count() and np.unique(sample.compressed()).size <= 32:
            return "categorical"
        return "continuous"
    if dtype == "uint8" and ds.count == 3:
        return "rgb"
    if dtype == "uint8" and ds.count == 4:
        return "rgba"
    if ds.count == 2 and interp[1] == ColorInterp.alpha:
        return "continuous"
    return "multispectral"


def _sample(ds: rasterio.io.DatasetReader, size: int = 256) -> np.ma.MaskedArray:
    """Band 1 at most ``size`` pixels wide, read from overviews when present."""
    scale = max(ds.width / size, ds.height / size, 1)
    out_shape = (max(1, int(ds.height / scale)), max(1, int(ds.width / scale)))
    data = ds.read(1, out_shape=out_shape, masked=True, resampling=Resampling.nearest)
    if np.issubdtype(data.dtype, np.floating):
        data = np.ma.masked_invalid(data)
    return data


def _looks_like_dem(ds: rasterio.io.DatasetReader, sample: np.ma.MaskedArray) -> bool:
    """Heights: one band, float or 16/32-bit int, in Earth's elevation range, spatially smooth."""
    if ds.dtypes[0] not in {"float32", "float64", "int16", "int32", "uint16"} or not sample.count():
        return False
    lo, hi = float(sample.min()), float(sample.max())
    if not (-12_000 <= lo and hi <= 9_000 and hi - lo >= 5):
        return False
    # Neighbouring pixels of terrain differ by a small part of the whole range.
    steps = np.ma.abs(np.ma.diff(sample.astype("float64"), axis=1))
    return bool(steps.count()) and float(np.ma.median(steps)) < 0.05 * (hi - lo)


def _predictor(dtype: str) -> int:
    return 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2


def tier_profile(
    tier: str, *, dtype: str, count: int, raster_type: str, max_dimension: int = 10_000
) -> tuple[str, dict[str, Any], str | None]:
    """(profile name, creation options, warning) for one tier of one raster."""
    # Small rasters get 256-px blocks so they still have overviews (one per halving above a block).
    block = 256 if max_dimension < 4096 else 512
    base = {"blockxsize": block, "blockysize": block}
    if tier == "visualization":
        if dtype == "uint8" and count == 3 and raster_type in {"rgb", "auto"}:
            return "jpeg", {**cog_profiles.get("jpeg"), **base, "jpeg_quality": 85}, None
        if dtype == "uint8" and count == 4 and raster_type in {"rgba", "auto"}:
            return "webp", {**cog_profiles.get("webp"), **base, "webp_level": 85}, None
        warning = (
            f"visualization tier: JPEG/WEBP need 3 or 4 bands of 8-bit RGB(A); this raster has {count} "
            f"{dtype} band(s) ({raster_type}), so it was written losslessly (analysis profile)."
        )
        name, profile, _ = tier_profile(
            "analysis", dtype=dtype, count=count, raster_type=raster_type, max_dimension=max_dimension
        )
        return name, profile, warning
    if tier == "analysis":
        return "deflate", {**cog_profiles.get("deflate"), **base, "predictor": _predictor(dtype), "zlevel": 6}, None
    if tier == "archive":
        with warnings_module.catch_warnings():
            # rio-cogeo warns that ZSTD needs a recent libtiff: a known choice for the archive tier.
            warnings_module.filterwarnings("ignore", message="Non-standard compression schema")
            zstd = cog_profiles.get("zstd")
        return "zstd", {**zstd, **base, "predictor": _predictor(dtype), "zstd_level": 19}, None
    raise ValueError(f"unknown tier {tier!r}")


class _GdalErrors(logging.Handler):
    """Collects GDAL errors that rasterio logs instead of raising (CPLE_* at ERROR level)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []
        # Workers run several threads: only this thread's GDAL errors belong to this COG.
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@dataclass
class CogOutput:
    tier: str
    profile: str
    path: Path
    warnings: list[str]
    size: int


def create_cog(
    src_path: str | Path,
    dst_path: Path,
    *,
    tier: str,
    raster_type: str,
    crs: str | None = None,
    web_optimized: bool = False,
) -> CogOutput:
    """Write one tier's COG to ``dst_path`` (local), validated; raises CogCreationFailed."""
    warnings: list[str] = []
    gdal_errors = _GdalErrors()
    rio_logger = logging.getLogger("rasterio")
    rio_logger.addHandler(gdal_errors)
    try:
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS", GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(src_path) as src:
            name, profile, warning = tier_profile(
                tier,
                dtype=src.dtypes[0],
                count=src.count,
                raster_type=raster_type,
                max_dimension=max(src.width, src.height),
            )
            if warning:
                warnings.append(warning)
            source: Any = src
            target_crs = check_crs(crs) if crs else None
            if src.crs is None and target_crs is not None:
                # Assign the given CRS (the file has none) without touching the bronze file.
                source = WarpedVRT(src, src_crs=target_crs, crs=target_crs, src_transform=src.transform)
            elif target_crs is not None and src.crs != target_crs:
                source = WarpedVRT(src, crs=target_crs, resampling=_warp_resampling(raster_type))
                warnings.append(f"Reprojected from {src.crs.to_string()} to {target_crs.to_string()} (crs parameter).")
            overview_resampling = "mode" if raster_type == "categorical" else "average"
            add_mask = name in {"jpeg"} and src.nodata is not None
            colormap = None
            if src.count == 1:
                try:
                    colormap = src.colormap(1) or None
                except ValueError:
                    colormap = None
            with warnings_module.catch_warnings():
                # rio-cogeo warns that ZSTD needs a recent libtiff: a known choice for the archive tier.
                warnings_module.filterwarnings("ignore", message="Non-standard compression schema")
                cog_translate(
                    source,
                    str(dst_path),
                    profile,
                    add_mask=add_mask,
                    overview_resampling=overview_resampling,  # type: ignore[arg-type]
                    web_optimized=web_optimized,
                    resampling=_warp_resampling(raster_type).name,  # type: ignore[arg-type]
                    in_memory=False,
                    quiet=True,
                    colormap=colormap,
                    forward_band_tags=True,
                    config={"GDAL_NUM_THREADS": "ALL_CPUS", "GDAL_TIFF_OVR_BLOCKSIZE": "512"},
                )
            if source is not src:
                source.close()
    except (RasterioIOError, ValueError, RuntimeError) as exc:
        # rasterio's "Read failed" hides GDAL's reason in the exception chain.
        reasons = [str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None and str(e)]
        raise CogCreationFailed(
            f"COG creation ({tier}) failed: " + "; ".join(dict.fromkeys(reasons)),
            remediation="The file may be truncated or corrupt: re-export it (e.g. gdal_translate) and upload again.",
        ) from exc
    finally:
        rio_logger.removeHandler(gdal_errors)
    if gdal_errors.messages:
        raise CogCreationFailed(
            f"COG creation ({tier}) reported GDAL errors.", details={"gdal_errors": gdal_errors.messages[:20]}
        )
    validate_output(dst_path, tier=tier)
    return CogOutput(tier=tier, profile=name, path=dst_path, warnings=warnings, size=dst_path.stat().st_size)


def _warp_resampling(raster_type: str) -> Resampling:
    return Resampling.nearest if raster_type == "categorical" else Resampling.bilinear


def validate_output(path: Path, *, tier: str) -> None:
    """cog_validate() plus one decode of the smallest overview and one full-resolution block."""
    is_valid, errors, _warnings = cog_validate(str(path), quiet=True)
    if not is_valid:
        raise CogCreationFailed(f"The {tier} COG is not a valid COG.", details={"errors": errors})
    try:
        with rasterio.open(path) as ds:
            overviews = ds.overviews(1)
            if overviews:
                factor = overviews[-1]
                ds.read(out_shape=(ds.count, max(1, ds.height // factor), max(1, ds.width // factor)))
            ds.read(window=next(iter(ds.block_windows(1)))[1])
    except RasterioIOError as exc:
        raise CogCreationFailed(f"The {tier} COG cannot be decoded: {exc}") from exc


def wgs84_bounds(facts: RasterFacts) -> tuple[float, float, float, float]:
    if facts.crs is None:
        raise InvalidRaster("The raster has no CRS.")
    west, south, east, north = transform_bounds(
        CRS.from_user_input(facts.crs), "EPSG:4326", *facts.bounds, densify_pts=21
    )
    return (max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))


def band_statistics(ds: rasterio.io.DatasetReader, *, max_size: int = 1024) -> list[dict[str, float | None]]:
    """Per-band minimum, maximum, mean, stddev and valid percent from an overview-sized read."""
    out: list[dict[str, float | None]] = []
    scale = max(ds.width / max_size, ds.height / max_size, 1)
    shape = (ds.count, max(1, int(ds.height / scale)), max(1, int(ds.width / scale)))
    data = ds.read(out_shape=shape, masked=True, resampling=Resampling.nearest)
    if np.issubdtype(data.dtype, np.floating):
        data = np.ma.masked_invalid(data)
    for band in data:
        if not band.count():
            out.append({"minimum": None, "maximum": None, "mean": None, "stddev": None, "valid_percent": 0.0})
            continue
        p2, p98 = np.percentile(band.compressed(), [2, 98])
        out.append(
            {
                "minimum": float(band.min()),
                "maximum": float(band.max()),
                "mean": float(band.mean()),
                "stddev": float(band.std()),
                "valid_percent": round(100.0 * float(band.count()) / float(band.size), 3),
                "percentile_2": float(p2),
                "percentile_98": float(p98),
            }
        )
    return out
