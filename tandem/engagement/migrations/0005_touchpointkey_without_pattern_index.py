"""On PostgreSQL, drop the text-pattern index Django adds beside a text primary key.

Client event ids are only ever looked up whole (the primary key serves that); the second index
was written on every stored event and read by no query.
"""

from django.db import migrations

INDEX = "engagement_touchpointkey_client_event_id_7c636a95_like"


def drop_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


def create_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON engagement_touchpointkey (client_event_id varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [("engagement", "0004_touchpoint_keys_and_month_partitions")]

    operations = [migrations.RunPython(drop_pattern_index, create_pattern_index)]
