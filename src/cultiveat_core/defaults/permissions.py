"""The core's permissions and which built-in roles hold them (admin holds every permission)."""

from __future__ import annotations

from cultiveat_core.domain import Permission
from cultiveat_core.markers import hookimpl

ALL = ("marketing", "sales", "executive")

CORE_PERMISSIONS = [
    Permission("contacts.read", "Read contacts", ALL),
    Permission("contacts.create", "Create contacts", ("marketing", "sales")),
    Permission("contacts.update", "Edit contacts one owns", ("marketing", "sales")),
    Permission("contacts.update_any", "Edit every contact, whoever owns it", ("marketing",)),
    Permission("contacts.delete", "Delete contacts one owns", ("marketing", "sales")),
    Permission("contacts.delete_any", "Delete every contact, whoever owns it", ("marketing",)),
    Permission("contacts.import", "Import contacts", ("marketing",)),
    Permission(
        "contacts.export", "Export contacts (non-admins at most 1,000 rows)", ("marketing", "sales")
    ),
    Permission("activities.read", "Read activities", ALL),
    Permission("activities.log", "Log activities", ("marketing", "sales")),
    Permission("users.manage", "Create and change users and roles", ()),
    Permission("tokens.manage", "Create and revoke other users' API tokens", ()),
    Permission("plugins.read", "See installed plugins and their status", ()),
    Permission("jobs.read", "See any job's status", ("marketing",)),
    Permission("audit.read", "Read the audit log", ()),
    # identity and privacy (issue 5)
    Permission("contacts.transfer", "Give a contact to another owner", ("marketing",)),
    Permission(
        "contacts.read_sensitive",
        "See sensitive contact fields (phone, notes) unmasked",
        ("marketing", "sales"),
    ),
    Permission("audit.read_own", "Read the audit records of one's own contacts and actions", ALL),
    Permission("roles.manage", "Add roles and change which permissions a role holds", ()),
    Permission("privacy.manage", "Export (subject access) and erase a contact's personal data", ()),
    Permission(
        "consent.manage", "Record consent for contacts one may edit", ("marketing", "sales")
    ),
]

# contacts domain (issue 4)
CORE_PERMISSIONS += [
    Permission("contacts.merge", "Merge duplicate contacts", ("marketing",)),
    Permission("contacts.custom_fields", "Define and remove custom contact fields", ()),
    Permission("tags.manage", "Rename, merge and delete tags", ("marketing",)),
    Permission("activities.edit_any", "Edit every note, whoever wrote it", ()),
    Permission("activities.delete_any", "Delete every note, whoever wrote it", ()),
]


@hookimpl(trylast=True)
def register_permissions() -> list[Permission]:
    return list(CORE_PERMISSIONS)
