"""Rebuild the offline basemap's data (rasters/basemap/) from the files the project ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from rasters import basemap

_SHARED = Path(settings.BASE_DIR).parent / "shared" / "data"


class Command(BaseCommand):
    help = "Build rasters/basemap/relief.tif and countries.geojson (see rasters/basemap/README.md)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--relief", default=str(_SHARED / "raster" / "natural_earth_1_downsampled_cog.tif"))
        parser.add_argument(
            "--countries", default=str(_SHARED / "vector" / "naturalearth_lowres" / "naturalearth_lowres.shp")
        )
        parser.add_argument("--out", default=str(basemap.DATA_DIR))

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        sizes = basemap.build(relief_src=Path(options["relief"]), countries_src=Path(options["countries"]), out=out)
        for name, size in sizes.items():
            self.stdout.write(f"{out / name}: {size} bytes")
