"""Background jobs: plain functions the worker runs in the app context.

Enqueue them through ``app.services.jobs.enqueue``. Arguments and results must
be JSON values, and a job must be safe to run twice (see ``app.core.jobs``).
"""
