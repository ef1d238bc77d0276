"""SQLModel tables, one module per resource.

The feature that owns a table imports its module when the app is built
(``app/features``), so the migrations see the table of every feature the
project has, and of no other.
"""
