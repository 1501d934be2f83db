from django.db import migrations


def seed(apps, schema_editor):
    from tandem.crm import defaults

    LeadStatus = apps.get_model("crm", "LeadStatus")
    LifecycleStage = apps.get_model("crm", "LifecycleStage")
    LifecycleTransition = apps.get_model("crm", "LifecycleTransition")
    OpportunityStage = apps.get_model("crm", "OpportunityStage")
    for position, (key, name) in enumerate(defaults.LEAD_STATUSES, start=1):
        LeadStatus.objects.update_or_create(key=key, defaults={"name": name, "position": position})
    for key, name, position, is_side, side, status in defaults.LIFECYCLE_STAGES:
        LifecycleStage.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "position": position,
                "is_side_stage": is_side,
                "side": side,
                "lead_status_on_entry_id": status,
            },
        )
    for from_key, to_key, kind in defaults.default_transitions():
        LifecycleTransition.objects.update_or_create(
            from_stage_id=from_key, to_stage_id=to_key, defaults={"kind": kind}
        )
    for key, name, position, probability, category, is_closed, is_won in defaults.OPPORTUNITY_STAGES:
        OpportunityStage.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "position": position,
                "probability": probability,
                "forecast_category": category,
                "is_closed": is_closed,
                "is_won": is_won,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
