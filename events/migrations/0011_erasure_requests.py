"""Erasure requests (DELETE /profiles/{email}, POST /profiles/erasures) and the profile bulk
import jobs Klaviyo has not finished, which erasures wait for. Two new tables: no row is
rewritten."""

import django.utils.timezone
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0010_consent_profile_link_without_constraint'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProfileImportJob',
            fields=[
                ('job_id', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name='ErasureRequest',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('identifier_kind', models.CharField(choices=[('email', 'email'), ('phone_number', 'phone number'), ('external_id', 'external id')], max_length=16)),
                ('identifier', models.CharField(blank=True, default='', max_length=300)),
                ('identifier_sha256', models.CharField(db_index=True, max_length=64)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent (Klaviyo accepted it)'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('deleted_profiles', models.PositiveIntegerField(default=0)),
                ('deleted_events', models.PositiveIntegerField(default=0)),
                ('hold_until', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True, default='')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-requested_at'],
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='erasure_status_next'), models.Index(fields=['requested_at'], name='erasure_requested_at')],
            },
        ),
    ]
