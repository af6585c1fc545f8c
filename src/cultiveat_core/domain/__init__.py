"""Domain values: small frozen attrs classes, free of persistence and transport."""

from cultiveat_core.domain.activities import Activity, ActivityType
from cultiveat_core.domain.contacts import Address, Contact, SocialLinks
from cultiveat_core.domain.extensions import ContactField, Kpi
from cultiveat_core.domain.identity import ROLES, Actor, Permission, User
from cultiveat_core.domain.jobs import PeriodicTask, Task
from cultiveat_core.domain.ui import (
    BulkAction,
    ContactPanel,
    ContactTab,
    DashboardWidget,
    ListColumn,
    NavItem,
    QuickAction,
    UIContribution,
)

__all__ = [
    "ROLES",
    "Activity",
    "ActivityType",
    "Actor",
    "Address",
    "BulkAction",
    "Contact",
    "ContactField",
    "ContactPanel",
    "ContactTab",
    "DashboardWidget",
    "Kpi",
    "ListColumn",
    "NavItem",
    "PeriodicTask",
    "Permission",
    "QuickAction",
    "SocialLinks",
    "Task",
    "UIContribution",
    "User",
]
