"""The package's version, in a module of its own: the run record writes it, and a module of the
library imports it from here rather than from the package root (which imports the layers above)."""

__version__ = "0.2.0"
