"""Helpers for the image-retrieval teaching kit.

Importing this package does nothing but define ``__version__``: no seeding, no downloads,
no heavy imports. Import what you need from the modules, e.g.
``from helpers.metrics import average_precision``.
"""

__version__ = "0.1.0"
