"""Settings split by environment: base (shared), dev, test, prod.

Every environment variable is read in :mod:`geoplatform.settings.env`.
"""
