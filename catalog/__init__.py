"""The catalogue: pgSTAC access (only :mod:`catalog.pgstac` calls pgSTAC)."""
