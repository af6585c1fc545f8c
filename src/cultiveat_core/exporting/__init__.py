"""Contact exports: CSV or XLSX, optionally in an AES-encrypted zip, audited.

One streaming query (filters of the contact list, tags and owner joined in SQL, plugin
``ContactField`` values and ``export_columns`` hook columns as SQL expressions) writes the
file row by row. Non-admins get at most 1,000 rows per download (seed 003). Text cells that
a spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage return)
are prefixed with ``'``.
"""

from cultiveat_core.exporting.columns import ExportColumn, export_columns_for
from cultiveat_core.exporting.writer import (
    EXPORT_FORMATS,
    NON_ADMIN_LIMIT,
    ExportResult,
    escape_cell,
    export_contacts,
)

__all__ = [
    "EXPORT_FORMATS",
    "NON_ADMIN_LIMIT",
    "ExportColumn",
    "ExportResult",
    "escape_cell",
    "export_columns_for",
    "export_contacts",
]
