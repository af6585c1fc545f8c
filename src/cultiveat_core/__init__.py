"""Cultiveat core: contacts, activities and hooks; every capability is a plugin.

Public names (a contract for plugins and embedders): ``hookimpl``, ``hookspec``,
``create_crm``, ``CRM``, ``Settings``, the domain values and the errors.
"""

from cultiveat_core.crm import CRM, create_crm
from cultiveat_core.domain import (
    Activity,
    ActivityType,
    Actor,
    Address,
    BulkAction,
    Contact,
    ContactField,
    ContactPanel,
    ContactTab,
    DashboardWidget,
    Kpi,
    ListColumn,
    NavItem,
    PeriodicTask,
    Permission,
    QuickAction,
    SocialLinks,
    Task,
    User,
)
from cultiveat_core.errors import (
    Conflict,
    CultiveatError,
    FieldError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from cultiveat_core.events import ContactChange
from cultiveat_core.jobs import JobContext
from cultiveat_core.markers import hookimpl, hookspec
from cultiveat_core.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "CRM",
    "Activity",
    "ActivityType",
    "Actor",
    "Address",
    "BulkAction",
    "Conflict",
    "Contact",
    "ContactChange",
    "ContactField",
    "ContactPanel",
    "ContactTab",
    "CultiveatError",
    "DashboardWidget",
    "FieldError",
    "JobContext",
    "Kpi",
    "ListColumn",
    "NavItem",
    "NotFound",
    "PeriodicTask",
    "Permission",
    "PermissionDenied",
    "PreconditionFailed",
    "QuickAction",
    "Settings",
    "SocialLinks",
    "Task",
    "User",
    "ValidationError",
    "__version__",
    "create_crm",
    "hookimpl",
    "hookspec",
]
