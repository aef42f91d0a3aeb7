"""Rasters: Cloud-Optimised GeoTIFFs in the silver zone, their STAC items, and the read API.

Write path: the ``process_raster`` job (validate -> create COG per tier -> register STAC
item). Read path: ``/api/raster/{collection_id}/{item_id}/...`` tiles, TileJSON, viewer,
info, statistics, point, extract (bbox), clip (geometry) and preview, all through
rio-tiler readers over GDAL range requests (local files or ``/vsiaz/``).
"""
