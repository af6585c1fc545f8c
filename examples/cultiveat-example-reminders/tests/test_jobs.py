"""The ``reminders.send_due`` job, its schedule and the ``reminders_sent`` event."""

from datetime import timedelta

import cultiveat_example_reminders.plugin
from click.testing import CliRunner
from cultiveat_example_reminders.service import reminders_service

from cultiveat_core import hookimpl
from cultiveat_core.cli import build_cli
from cultiveat_core.db.metadata import utcnow


def add(crm, system, contact, minutes, note):
    due = (utcnow() + timedelta(minutes=minutes)).isoformat()
    return reminders_service(crm).create(system, contact.id, {"due_at": due, "note": note})


def test_job_sends_due_reminders_once(crm, run_jobs, system, contact):
    past = add(crm, system, contact, -5, "Call back")
    future = add(crm, system, contact, 60, "Not yet")
    job_id = crm.jobs.enqueue("reminders.send_due")
    assert run_jobs() == 1
    status = crm.jobs.get(job_id)
    assert status.status == "done"
    assert status.result == {"sent": 1}
    reminders = {r.id: r for r in reminders_service(crm).for_contact(system, contact.id)}
    assert reminders[past.id].sent_at is not None
    assert reminders[future.id].sent_at is None
    timeline = crm.activities.timeline(system, contact.id, types=["reminder_due"])
    assert [(a.data["reminder_id"], a.data["note"]) for a in timeline] == [(past.id, "Call back")]
    # a second run (a redelivered job, a second worker) sends nothing again
    again = crm.jobs.enqueue("reminders.send_due")
    run_jobs()
    assert crm.jobs.get(again).result == {"sent": 0}
    assert len(crm.activities.timeline(system, contact.id, types=["reminder_due"])) == 1


def test_job_sends_in_batches(make_crm, run_jobs, system):
    crm = make_crm(plugins=[cultiveat_example_reminders.plugin], environ={"CULTIVEAT_REMINDERS_BATCH_SIZE": "2"})
    contact = crm.contacts.create(system, {"email": "bo@example.com", "first_name": "Bo", "last_name": "Ek"})
    for i in range(5):
        add(crm, system, contact, -1 - i, f"note {i}")
    job_id = crm.jobs.enqueue("reminders.send_due")
    crm.jobs.run_pending()
    assert crm.jobs.get(job_id).result == {"sent": 5}
    assert crm.jobs.get(job_id).progress_done == 5


def test_reminders_sent_fires_after_commit_with_the_batch(make_crm, system):
    class Listener:
        def __init__(self):
            self.batches = []

        @hookimpl
        def reminders_sent(self, crm, reminders):
            self.batches.append([r.note for r in reminders])

    listener = Listener()
    crm = make_crm(plugins=[cultiveat_example_reminders.plugin, listener])
    contact = crm.contacts.create(system, {"email": "cy@example.com", "first_name": "Cy", "last_name": "Oh"})
    add(crm, system, contact, -2, "first")
    add(crm, system, contact, -1, "second")
    crm.jobs.enqueue("reminders.send_due")
    crm.jobs.run_pending()
    assert listener.batches == [["first", "second"]]


def test_the_periodic_task_is_scheduled_by_beat(crm, run_jobs, system, contact):
    periodic = crm.registry.periodic_tasks["reminders.send_due.periodic"]
    assert periodic.task == "reminders.send_due"
    assert periodic.every == timedelta(seconds=60)
    add(crm, system, contact, -1, "Call back")
    result = CliRunner().invoke(build_cli(crm), ["beat", "--once"])
    assert result.exit_code == 0, result.output
    run_jobs()
    (reminder,) = reminders_service(crm).for_contact(system, contact.id)
    assert reminder.sent_at is not None


def test_the_interval_comes_from_settings(make_crm):
    crm = make_crm(plugins=[cultiveat_example_reminders.plugin],
                   environ={"CULTIVEAT_REMINDERS_EVERY_SECONDS": "300"})
    assert crm.registry.periodic_tasks["reminders.send_due.periodic"].every == timedelta(minutes=5)
