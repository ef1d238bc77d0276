"""Commands of the ``flask`` CLI, one module per group; the feature that owns a
group adds it to the app (``app.features``)."""
