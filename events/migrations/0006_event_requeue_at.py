from django.db import migrations, models


def requeue_at_from_next_attempt(apps, schema_editor):
    """Pending rows that were claimed or wait for a retry are due for the sweeper at their
    next_attempt_at (the lease's end, the retry's time); the others were queued when saved."""
    Event = apps.get_model("events", "Event")
    Event.objects.filter(sync_status="pending", next_attempt_at__isnull=False).update(
        requeue_at=models.F("next_attempt_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0005_event_failure_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="requeue_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["sync_status", "requeue_at", "created_at"], name="event_status_requeue"
            ),
        ),
        migrations.RunPython(requeue_at_from_next_attempt, migrations.RunPython.noop),
    ]
