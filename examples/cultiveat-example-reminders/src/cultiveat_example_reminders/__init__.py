"""Cultiveat example plugin ``reminders``: a table, a migration, a job, a permission, an event."""
