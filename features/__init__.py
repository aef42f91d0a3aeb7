"""Vector datasets in the ``geo`` schema and the OGC API Features that serves them."""
