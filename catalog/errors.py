"""Catalogue errors (HTTP-agnostic; the STAC API maps them to OGC exception bodies)."""

from geoplatform.errors import Conflict, InvalidInput, NotFound


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class ItemNotFound(NotFound):
    code = "item_not_found"


class InvalidStacDocument(InvalidInput):
    code = "invalid_stac_document"


class InvalidSearch(InvalidInput):
    """A bad bbox, datetime, limit, geometry or token in a STAC search."""

    code = "InvalidParameterValue"


class SystemCollectionProtected(Conflict):
    code = "system_collection_protected"


class AuditImmutable(Conflict):
    code = "audit_immutable"


class PlatformOwned(Conflict):
    """A STAC transaction on a collection (or its items) that the platform's pipelines publish."""

    code = "platform_owned"


class AlreadyExists(Conflict):
    code = "already_exists"
