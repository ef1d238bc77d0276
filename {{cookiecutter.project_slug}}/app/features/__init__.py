"""The optional modules of the project, each wired into the app in one place.

A feature's ``init_app(app)`` builds its state and registers everything it
brings: blueprints, CLI commands, authentication schemes, scoping rules,
OpenAPI hooks. ``create_app`` calls it from its list of extensions, so adding
a module is one line there. Only this package and the factory import across
every layer: nothing below it knows which features the project has.
"""
