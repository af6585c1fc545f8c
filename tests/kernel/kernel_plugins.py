"""Source text of the throwaway plugins the kernel tests install (see ``conftest.PluginDir``)."""

GOOD = '''
from pathlib import Path

import click
from litestar import get

from cultiveat_core import ActivityType, Permission, hookimpl

EVENTS = []


@get("/api/{name}/ping", sync_to_thread=False)
def ping() -> dict:
    return {{"pong": "{name}"}}


@click.command("{name}-hello")
def hello() -> None:
    """Say hello from the {name} plugin."""
    click.echo("hello from {name}")


@hookimpl
def register_routes(crm):
    return [ping]


@hookimpl
def register_activity_types(crm):
    return [ActivityType("{name}_waved", "Waved ({name})")]


@hookimpl
def register_permissions(crm):
    return [Permission("{name}.read", "Read {name}", ("sales",))]


@hookimpl
def register_commands(crm):
    return [hello]


@hookimpl
def contact_created(crm, contact):
    EVENTS.append(contact.email)
'''

FAILS_AT_IMPORT = '''
raise RuntimeError("{name} cannot start: missing licence file")
'''

PRINTS_AT_IMPORT = '''
print("{name} says hello while importing")
from cultiveat_core import hookimpl


@hookimpl
def register_permissions(crm):
    return []
'''

RAISES_IN_HOOK = '''
from cultiveat_core import ActivityType, hookimpl

CALLS = []


@hookimpl
def register_activity_types(crm):
    return [ActivityType("{name}_thing", "Thing")]


@hookimpl
def register_routes(crm):
    raise ValueError("{name} route table is broken")


@hookimpl
def contact_created(crm, contact):
    CALLS.append(contact.id)
'''

SAME_ACTIVITY_TYPE = '''
from cultiveat_core import ActivityType, hookimpl


@hookimpl
def register_activity_types(crm):
    return [ActivityType("shared_type", "Shared ({name})")]
'''

TYPO_HOOK = '''
from cultiveat_core import hookimpl


@hookimpl
def contact_creatd(crm, contact):
    pass
'''

# A plugin with its own table, an Alembic branch and a job (migrations and worker tests).
WITH_TABLE = '''
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from cultiveat_core import PeriodicTask, Task, hookimpl
from cultiveat_core.db.metadata import metadata

NOTES = sa.Table(
    "{name}_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("text", sa.String(200), nullable=False),
    extend_existing=True,
)


def write_note(ctx, text, path=None):
    """Insert a row (and append to ``path`` when given, to count runs across processes)."""
    with ctx.crm.begin() as conn:
        conn.execute(NOTES.insert().values(job_id=ctx.job_id, text=text))
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(ctx.job_id + "\\n")
    ctx.progress(1, 1, "written")
    return {{"text": text}}


@hookimpl
def register_migrations(crm):
    return [str(Path(__file__).parent / "versions")]


@hookimpl
def register_tasks(crm):
    return [Task("{name}.write_note", write_note)]


@hookimpl
def register_periodic_tasks(crm):
    return [PeriodicTask("{name}.hourly_note", "{name}.write_note", timedelta(hours=1),
                         {{"text": "hourly"}})]
'''

WITH_TABLE_MIGRATION = '''
"""{name}: notes table."""

import sqlalchemy as sa
from alembic import op

revision = "{name}_0001"
down_revision = None
branch_labels = ("{name}",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "{name}_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("{name}_notes")
'''


def render(source: str, name: str) -> str:
    return source.format(name=name)


def add_with_table(plugin_dir, name: str) -> str:
    """Install the plugin with its own table and migration; return its module path."""
    return plugin_dir.add(name, render(WITH_TABLE, name), files={
        f"versions/{name}_0001_notes.py": render(WITH_TABLE_MIGRATION, name),
    })


def person(email: str, **more: str) -> dict[str, str]:
    """A valid contact payload."""
    local = email.split("@")[0]
    return {"email": email, "first_name": local.title(), "last_name": "Tester", **more}
