"""No models: COGs live in storage, their metadata in STAC (catalog)."""
