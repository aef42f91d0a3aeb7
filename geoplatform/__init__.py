"""GeoPlatform: files in, standard geospatial web APIs out.

This package is the project core (settings, URL root, errors, auth, health, storage,
logging). It is the bottom layer: it imports no domain app (except the URL root,
which mounts them).
"""
