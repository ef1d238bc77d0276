"""AI providers, one module each; :mod:`app.core.ai.registry` lists them."""
