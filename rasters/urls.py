from django.urls import re_path

from . import api

_ITEM = r"^(?P<collection_id>[A-Za-z0-9][A-Za-z0-9._-]*)/(?P<item_id>[A-Za-z0-9][A-Za-z0-9._-]*)"

_TILE = (
    r"/tiles/(?P<tms>[A-Za-z0-9_-]+)/(?P<z>\d{1,2})/(?P<x>\d{1,9})/(?P<y>\d{1,9})"
    r"(?:@(?P<scale>[1-4])x)?\.(?P<fmt>png|jpg|jpeg|webp|tif|npy)$"
)
_MOSAIC = r"^mosaic/collections/(?P<collection_id>[A-Za-z0-9][A-Za-z0-9._-]*)"
_SEARCH = r"^mosaic/(?P<search_id>[A-Za-z0-9]{1,64})"  # a pgSTAC search hash (md5 hex)

_BASEMAP = r"^basemap/tiles/(?P<z>\d{1,2})/(?P<x>\d{1,9})/(?P<y>\d{1,9})(?:@(?P<scale>[1-4])x)?\.(?P<fmt>png|jpg|webp)$"

urlpatterns = [
    re_path(_BASEMAP, api.BasemapTileApi.as_view(), name="raster-basemap-tile"),
    re_path(r"^basemap/tilejson\.json$", api.BasemapTileJsonApi.as_view(), name="raster-basemap-tilejson"),
    re_path(_MOSAIC + _TILE, api.MosaicTileApi.as_view(), name="raster-mosaic-tile"),
    re_path(_MOSAIC + r"/tilejson\.json$", api.MosaicTileJsonApi.as_view(), name="raster-mosaic-tilejson"),
    re_path(_SEARCH + _TILE, api.SearchMosaicTileApi.as_view(), name="raster-search-mosaic-tile"),
    re_path(_SEARCH + r"/tilejson\.json$", api.SearchMosaicTileJsonApi.as_view(), name="raster-search-mosaic-tilejson"),
    re_path(_ITEM + _TILE, api.RasterTileApi.as_view(), name="raster-tile"),
    re_path(_ITEM + r"/tilejson\.json$", api.RasterTileJsonApi.as_view(), name="raster-tilejson"),
    re_path(_ITEM + r"/info$", api.RasterInfoApi.as_view(), name="raster-info"),
    re_path(_ITEM + r"/statistics$", api.RasterStatisticsApi.as_view(), name="raster-statistics"),
    re_path(_ITEM + r"/point$", api.RasterPointApi.as_view(), name="raster-point"),
    re_path(_ITEM + r"/extract(?:\.(?P<fmt>[a-z]+))?$", api.RasterExtractApi.as_view(), name="raster-extract"),
    re_path(_ITEM + r"/clip(?:\.(?P<fmt>[a-z]+))?$", api.RasterClipApi.as_view(), name="raster-clip"),
    re_path(_ITEM + r"/preview(?:\.(?P<fmt>[a-z]+))?$", api.RasterPreviewApi.as_view(), name="raster-preview"),
    re_path(_ITEM + r"/viewer$", api.RasterViewerApi.as_view(), name="raster-viewer"),
]
