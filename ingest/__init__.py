"""The job engine: Job -> Stage -> Task on Dramatiq workers.

Domain apps declare job types with :mod:`ingest.registry`; this app knows no domain.
It also owns raw uploads to the bronze zone and signed callbacks to clients.
"""
