"""GET /events filtered by metric or by email, newest stored first: an index of each ending in
created_at, read backwards, so a page is a range scan stopped after `limit` rows, never a sort
of every match. Only indexes are added: the columns keep their binary collation from 0003."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_event_requeue_at"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["event_name", "created_at"], name="event_name_created"),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["email", "created_at"], name="event_email_created"),
        ),
    ]
