"""Each provider's wire format, as the scripted upstream speaks it: ``<provider>_api.py``.

Every module offers the same functions, so one set of tests runs against every
provider the project ships (see ``tests/test_ai_providers.py``).
"""
