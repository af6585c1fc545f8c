"""Cultiveat segments: rule segments compiled to SQL, event-driven membership, ML segments.

Other plugins use :mod:`cultiveat_segments.api` (a declared public API) and the hooks in
:mod:`cultiveat_segments.hookspecs`; never the ``segments_*`` tables.
"""

__version__ = "0.1.0"
