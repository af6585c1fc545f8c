"""campaigns: templates (with the seed's three), campaigns, recipients, sequences, previews

Revision ID: campaigns_0001
Revises:
Create Date: 2026-11-23 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cultiveat_core.db.metadata import JSONType, UTCDateTime, utcnow

revision: str = "campaigns_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("campaigns",)
depends_on: str | Sequence[str] | None = "core_0001"

# Seed 003's templates (Quick Actions -> Email), with its merge fields.
SEED_TEMPLATES = [
    {
        "name": "Welcome Email",
        "category": "Onboarding",
        "subject": "Welcome to Cultiveat, {first_name}!",
        "body_html": "<p>Hi {first_name},</p><p>Thanks for your interest. We help teams like "
        "{company_name} grow with less effort.</p>"
        "{% if position %}<p>As {position}, you will like our onboarding guide.</p>{% endif %}"
        "<p>Best regards,<br>The Cultiveat team</p>",
        "body_text": "Hi {first_name},\n\nThanks for your interest. We help teams like {company_name} "
        "grow with less effort.\n\nBest regards,\nThe Cultiveat team",
        "fallbacks": {"first_name": "there", "company_name": "yours"},
    },
    {
        "name": "Follow-up Email",
        "category": "Sales",
        "subject": "Following up, {first_name}",
        "body_html": "<p>Hi {first_name},</p><p>I wanted to follow up on our last conversation about "
        "{company_name}. Do you have 15 minutes this week?</p><p>Best regards</p>",
        "body_text": "Hi {first_name},\n\nI wanted to follow up on our last conversation about "
        "{company_name}. Do you have 15 minutes this week?\n\nBest regards",
        "fallbacks": {"first_name": "there", "company_name": "your team"},
    },
    {
        "name": "Product Demo",
        "category": "Sales",
        "subject": "Your Cultiveat product demo, {first_name}",
        "body_html": "<p>Hi {first_name},</p><p>Here is what we will show {company_name} in the demo: "
        "contact scoring, segments and campaigns.</p>"
        '<p><a href="https://cultiveat.example/demo">Book your demo slot</a></p>',
        "body_text": "Hi {first_name},\n\nHere is what we will show {company_name} in the demo: "
        "contact scoring, segments and campaigns.\n\nBook your slot: https://cultiveat.example/demo",
        "fallbacks": {"first_name": "there", "company_name": "your team"},
    },
]


def upgrade() -> None:
    op.create_table(
        "campaigns_sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=50), server_default="email", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="Active", nullable=False),
        sa.Column("exit_on", JSONType, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_sequences")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_sequences_name")),
    )
    op.create_table(
        "campaigns_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), server_default="Marketing", nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_html", sa.Text(), server_default="", nullable=False),
        sa.Column("body_text", sa.Text(), server_default="", nullable=False),
        sa.Column("fallbacks", JSONType, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_templates_name")),
    )
    op.create_table(
        "campaigns_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=50), server_default="Email Campaign", nullable=False),
        sa.Column("channel", sa.String(length=50), server_default="email", nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("audience", JSONType, nullable=False),
        sa.Column("status", sa.String(length=20), server_default="Draft", nullable=False),
        sa.Column("schedule_at", UTCDateTime(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), server_default="0", nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("prepared_at", UTCDateTime(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["campaigns_templates.id"],
            name=op.f("fk_campaigns_campaigns_template_id_campaigns_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_campaigns_name")),
    )
    op.create_table(
        "campaigns_sequence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("delay_seconds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("condition", JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["campaigns_sequences.id"],
            name=op.f("fk_campaigns_sequence_steps_sequence_id_campaigns_sequences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["campaigns_templates.id"],
            name=op.f("fk_campaigns_sequence_steps_template_id_campaigns_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_sequence_steps")),
        sa.UniqueConstraint("sequence_id", "position", name="uq_campaigns_sequence_steps_position"),
    )
    op.create_table(
        "campaigns_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("exit_reason", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            name=op.f("fk_campaigns_enrolments_contact_id_core_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["campaigns_sequences.id"],
            name=op.f("fk_campaigns_enrolments_sequence_id_campaigns_sequences"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_enrolments")),
        sa.UniqueConstraint(
            "sequence_id", "contact_id", name="uq_campaigns_enrolments_sequence_contact"
        ),
    )
    op.create_index(
        "ix_campaigns_enrolments_due",
        "campaigns_enrolments",
        ["status", "next_run_at"],
        unique=False,
    )
    op.create_table(
        "campaigns_previews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            name=op.f("fk_campaigns_previews_contact_id_core_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["campaigns_templates.id"],
            name=op.f("fk_campaigns_previews_template_id_campaigns_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_previews")),
    )
    op.create_index(
        "ix_campaigns_previews_lookup",
        "campaigns_previews",
        ["template_id", "contact_id", "actor_id"],
        unique=False,
    )
    op.create_table(
        "campaigns_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=True),
        sa.Column("clicked_at", UTCDateTime(), nullable=True),
        sa.Column("bounced_at", UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns_campaigns.id"],
            name=op.f("fk_campaigns_recipients_campaign_id_campaigns_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contacts.id"],
            name=op.f("fk_campaigns_recipients_contact_id_core_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns_recipients")),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", name="uq_campaigns_recipients_campaign_contact"
        ),
    )
    op.create_index(
        "ix_campaigns_recipients_campaign_status",
        "campaigns_recipients",
        ["campaign_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_campaigns_recipients_contact_id", "campaigns_recipients", ["contact_id"], unique=False
    )

    templates = sa.table(
        "campaigns_templates",
        sa.column("name", sa.String),
        sa.column("category", sa.String),
        sa.column("subject", sa.String),
        sa.column("body_html", sa.Text),
        sa.column("body_text", sa.Text),
        sa.column("fallbacks", JSONType),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    now = utcnow()
    op.bulk_insert(templates, [{**t, "created_at": now, "updated_at": now} for t in SEED_TEMPLATES])


def downgrade() -> None:
    op.drop_index("ix_campaigns_recipients_contact_id", table_name="campaigns_recipients")
    op.drop_index("ix_campaigns_recipients_campaign_status", table_name="campaigns_recipients")
    op.drop_table("campaigns_recipients")
    op.drop_index("ix_campaigns_previews_lookup", table_name="campaigns_previews")
    op.drop_table("campaigns_previews")
    op.drop_index("ix_campaigns_enrolments_due", table_name="campaigns_enrolments")
    op.drop_table("campaigns_enrolments")
    op.drop_table("campaigns_sequence_steps")
    op.drop_table("campaigns_campaigns")
    op.drop_table("campaigns_templates")
    op.drop_table("campaigns_sequences")
