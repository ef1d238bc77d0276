"""The project's version, in a module of its own: anything may import it
without importing the application factory."""

__version__ = "{{ cookiecutter.version }}"
