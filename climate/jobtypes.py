"""Job types of the climate app (declarations only; the handlers are :mod:`climate.stages`)."""

from __future__ import annotations

from typing import Any

from ingest import registry

from . import selectors, services, stages

SOURCE_PARAMS = [
    registry.Param("container_name", str, required=True, help="Container holding the files (bronze / upload)."),
    registry.Param("file_name", str, default="", help="One NetCDF file or a .zarr store."),
    registry.Param("files", list, default=None, help="Blob names of a series (one variable, joined along time)."),
    registry.Param("manifest", str, default="", help='JSON blob listing the files ({"files": [...]}).'),
    registry.Param("prefix", str, default="", help="Folder of a series (with file_pattern)."),
    registry.Param("file_pattern", str, default="", help="Glob on file names under prefix, e.g. tas_*.nc."),
    registry.Param("max_files", int, default=None, min=1, max=100_000, help="Refuse a series with more files."),
]


def _output(params: dict[str, Any]) -> list[registry.Output]:
    collection_id, item_id = stages.ids_of(params)
    return [registry.Output(selectors.OUTPUT_KIND, f"{collection_id}/{item_id}")]


VIRTUALIZE_CLIMATE = registry.JobType(
    name="virtualize_climate",
    makes_outputs=True,
    description=(
        "NetCDF file(s) or a Zarr store in storage -> kerchunk references per file (fan-out) -> one virtual "
        "dataset along time in silver (references only; no data copied) -> datacube STAC item."
    ),
    params=[
        *SOURCE_PARAMS,
        registry.Param("collection_id", str, default=services.SYSTEM_COLLECTION, help="STAC collection."),
        registry.Param("item_id", str, default="", help="STAC item id (default: the CMIP6 series or file name)."),
        registry.Param("concat_dim", str, default="time", help="Dimension the files are joined along."),
        registry.Param("pipeline", str, default="virtual", choices=("virtual",), help="Only 'virtual' exists."),
        registry.Param("overwrite", bool, default=False, help="Replace an existing dataset."),
        registry.Param("title", str, default=""),
        registry.Param("description", str, default=""),
        registry.Param(
            "publish",
            bool,
            default=True,
            help="Register the STAC item at once (default); false keeps it for a reviewer's approval.",
        ),
    ],
    stages=[
        registry.Stage("plan", stages.plan),
        registry.Stage("reference", stages.reference, tasks=registry.from_previous(stages.reference_tasks)),
        registry.Stage("combine", stages.combine),
    ],
    finalize=stages.finalize,
    cleanup=stages.cleanup,
    replaces=lambda p: _output(p) if p["overwrite"] else [],
    publishes=lambda p: bool(p.get("publish", True)),
    preview_params={"publish": False},
)


def register() -> None:
    registry.register(VIRTUALIZE_CLIMATE)
