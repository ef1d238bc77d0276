"""Version 1 of the API: one blueprint per resource, all under ``/api/v1``."""
