"""Profiles as a resource (POST /profiles): the changes each request made, kept until Klaviyo has
them, and the attempts and next retry of their sync on the profile. Adds a table and two
columns with defaults: no row is rewritten."""


import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0007_event_list_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='profile',
            name='attempts',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='profile',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='ProfileChange',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('attributes', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('profile', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='events.profile')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
    ]
