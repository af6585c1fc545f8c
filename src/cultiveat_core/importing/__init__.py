"""Contact imports: vendor recognition, validation, dedupe, batched writes, resumable jobs."""

from cultiveat_core.importing.mappers import BUILTIN_MAPPERS, SOURCES, ImportMapper, all_mappers
from cultiveat_core.importing.reader import FileProblem
from cultiveat_core.importing.runner import ON_DUPLICATE, ImportOptions, ImportResult, run_import

__all__ = [
    "BUILTIN_MAPPERS",
    "ON_DUPLICATE",
    "SOURCES",
    "FileProblem",
    "ImportMapper",
    "ImportOptions",
    "ImportResult",
    "all_mappers",
    "run_import",
]
