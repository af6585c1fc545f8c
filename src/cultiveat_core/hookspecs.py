# mypy: disable-error-code="empty-body"
"""Every hook of the core, grouped by phase. Declarations only: one empty function each.

Registration hooks are called once at start-up and return lists; names are unique across
plugins (a duplicate is a start-up error naming both plugins). Events are fired after the
transaction commits, each implementation isolated. Decisions are ``firstresult`` with a
``trylast`` default in the core's built-in plugins. ``docs/hooks.md`` documents each one; a
test fails when they drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cultiveat_core.markers import hookspec

if TYPE_CHECKING:
    from cultiveat_core.crm import CRM
    from cultiveat_core.domain import Activity, Contact

# -- registration -------------------------------------------------------------------------


@hookspec
def register_settings(crm: CRM) -> list[type]:
    """Settings classes (attrs, with ``plugin: ClassVar[str]``) read from ``CULTIVEAT_<PLUGIN>_*``."""


@hookspec
def register_migrations(crm: CRM) -> list[str]:
    """Alembic version locations (directories); each plugin's revisions are their own branch."""


@hookspec
def register_routes(crm: CRM) -> list[Any]:
    """Litestar route handlers, Controllers or Routers, mounted as they are."""


@hookspec
def register_activity_types(crm: CRM) -> list[Any]:
    """``ActivityType`` values; the core registers its own the same way."""


@hookspec
def register_permissions(crm: CRM) -> list[Any]:
    """``Permission`` values checked by services."""


@hookspec
def register_commands(crm: CRM) -> list[Any]:
    """click commands or groups added to the ``cultiveat`` CLI."""


@hookspec
def register_tasks(crm: CRM) -> list[Any]:
    """``Task`` values (job functions named ``<plugin>.<task>``)."""


@hookspec
def register_periodic_tasks(crm: CRM) -> list[Any]:
    """``PeriodicTask`` values: which task runs how often."""


@hookspec
def register_ui(crm: CRM) -> list[Any]:
    """UI contributions (``NavItem``, ``ContactTab``, ``DashboardWidget``, ``QuickAction``...)."""


@hookspec
def register_contact_fields(crm: CRM) -> list[Any]:
    """``ContactField`` values: computed fields the list filters, sorts and exports (e.g. score)."""


@hookspec
def register_kpis(crm: CRM) -> list[Any]:
    """``Kpi`` values shown beside the core's contact KPIs (e.g. hot leads, average score)."""


# -- events (after commit, isolated) --------------------------------------------------------


@hookspec
def contact_created(crm: CRM, contact: Contact) -> None:
    """A contact was created (fired once per contact, after commit)."""


@hookspec
def contact_updated(crm: CRM, contact: Contact, changes: dict[str, tuple[Any, Any]]) -> None:
    """A contact changed; ``changes`` maps field to ``(old, new)``."""


@hookspec
def contact_deleted(crm: CRM, contact: Contact) -> None:
    """A contact was deleted; ``contact`` is its last state."""


@hookspec
def contacts_merged(crm: CRM, kept: Contact, merged: Contact) -> None:
    """``merged`` was folded into ``kept`` (its activities, tags and plugin data now belong to kept)."""


@hookspec
def activity_logged(crm: CRM, activity: Activity) -> None:
    """An activity was logged (fired once per activity, after commit)."""


@hookspec
def contacts_created(crm: CRM, contacts: list[Contact]) -> None:
    """Batch form of ``contact_created``: every contact created in one transaction."""


@hookspec
def contacts_updated(crm: CRM, changes: list[Any]) -> None:
    """Batch form of ``contact_updated``: ``ContactChange(contact, changes)`` values."""


@hookspec
def contacts_deleted(crm: CRM, contacts: list[Contact]) -> None:
    """Batch form of ``contact_deleted``."""


@hookspec
def activities_logged(crm: CRM, activities: list[Activity]) -> None:
    """Batch form of ``activity_logged``: every activity logged in one transaction."""


# -- decisions (firstresult) ----------------------------------------------------------------


@hookspec(firstresult=True)
def actor_from_request(crm: CRM, request: Any) -> Any:
    """The ``Actor`` behind an HTTP request, or None to let the next plugin decide."""


@hookspec(firstresult=True)
def match_existing_contact(crm: CRM, candidate: dict[str, Any]) -> Contact | None:
    """The existing contact ``candidate`` (normalised field values) duplicates, if any."""


@hookspec(firstresult=True)
def contact_pre_save(
    crm: CRM, contact: Contact | None, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Before a contact is saved: raise ``ValidationError`` to reject, or return corrected changes."""


# -- contacts domain (issue 4) --------------------------------------------------------------


@hookspec
def register_import_mappers(crm: CRM) -> list[Any]:
    """``ImportMapper`` values (``cultiveat_core.importing``): recognise a vendor's CSV headers
    and map its columns to contact fields. Each has a ``name`` (the ``--source`` value), a
    ``detect(headers) -> int`` confidence (0 = not mine) and a ``map(headers) -> dict``
    from header to target field (``email``, ``address.city``, ``custom.<name>``, ``tags``...)."""


@hookspec
def export_columns(crm: CRM, actor: Any) -> list[Any]:
    """``ExportColumn`` values (``cultiveat_core.exporting``) this plugin adds to contact
    exports for ``actor``: a ``name``, a ``label`` and ``expression(contacts_table)``, a scalar
    SQL expression, so exports stay one streaming query. Return [] to add nothing."""


@hookspec
def merge_contact_data(crm: CRM, conn: Any, kept_id: int, merged_id: int) -> dict[str, int] | None:
    """Inside the merge transaction, before ``merged_id`` is deleted: move this plugin's rows
    of ``merged_id`` to ``kept_id`` with ``conn`` (resolving clashes with rows ``kept_id``
    already has) and return ``{table: rows moved}``. Tables not returned by any plugin that
    reference ``core_contacts.id`` are moved by the core with one UPDATE each; a clash there
    fails the merge with a 409 naming the table. ``contacts_merged`` fires after the commit."""


# -- privacy (issue 5) ------------------------------------------------------------------------


@hookspec
def contact_data_for_subject_access(crm: CRM, contact: Contact) -> dict[str, Any] | None:
    """Everything this plugin holds about ``contact``, JSON-ready, for the subject-access
    export (``GET /api/contacts/{id}/subject-access``), where it appears under the plugin's
    name. Return None (or {}) when the plugin holds nothing about the contact."""


@hookspec
def erase_contact_data(crm: CRM, contact: Contact) -> None:
    """Remove or anonymise every row of this plugin about ``contact`` (erasure request or
    retention). Called before the core deletes the contact, outside its transaction: write in
    your own short transaction (``crm.begin()``) and be idempotent, because an erasure that
    fails part-way is simply retried. Raising aborts the erasure with a 409 naming the plugin."""
