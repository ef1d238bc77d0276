"""Business logic. No Flask imports here: services take a session and plain
arguments, raise ``app.core.exceptions`` errors, and can run from a view, a CLI
command or a background job alike."""
