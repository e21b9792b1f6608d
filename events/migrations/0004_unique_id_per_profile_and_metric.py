"""uniqueId is unique per profile and metric, as Klaviyo's unique_id, no longer across the whole
table: an order id reused for Placed then Fulfilled Order, or by another customer, was taken for
a repeat and the event lost. Plus `value_currency` (Klaviyo's ISO 4217 code of `value`).

No row is lost or changed: the old index (one event per unique_id) was stricter than the new
(one per profile, event name and unique_id), so every stored row satisfies the new one. The new
index is built before the old one goes, so at no moment does either database take a duplicate.
On MySQL/MariaDB the column keeps its binary collation from 0003: dropping a unique index and
adding a plain one only touches indexes (checked with sqlmigrate: no MODIFY of the column).
On SQLite, Django rebuilds the table by copying every row. Reversible while no two events
share a unique_id.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_exact_text_keys"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                fields=("profile", "event_name", "unique_id"),
                name="event_profile_name_unique_id",
            ),
        ),
        migrations.AlterField(
            model_name="event",
            name="unique_id",
            field=models.CharField(blank=True, db_index=True, max_length=255, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="value_currency",
            field=models.CharField(blank=True, max_length=3, null=True),
        ),
    ]
