"""OGC API Styles for the vector collections: CartoSym-JSON stored with its history, served as
CartoSym-JSON, MapLibre (Mapbox GL) style v8, a Leaflet style and SLD 1.1; a default style
made for every vector load (docs/apps/styles.md)."""
