"""A key's tier and requests per minute were copies of its account's, kept in step by
two code paths; now they are computed from the account and the catalog. Only a per-key
requests-per-minute that differs from its tier's (an operator's, e.g. the benches')
is kept, as `rate_limit_override`."""

from django.db import migrations, models

# The catalog's requests per minute when this migration was written: migrations do not
# import application code, which changes after them.
REQUESTS_PER_MINUTE = {"free": 10, "pro": 60, "enterprise": 300}


def keep_overrides(apps, schema_editor):
    APIKey = apps.get_model("apikeys", "APIKey")
    for key in APIKey.objects.only("pk", "tier", "rate_limit").iterator():
        if key.rate_limit != REQUESTS_PER_MINUTE.get(key.tier, REQUESTS_PER_MINUTE["free"]):
            APIKey.objects.filter(pk=key.pk).update(rate_limit_override=key.rate_limit)


def restore_copies(apps, schema_editor):
    APIKey = apps.get_model("apikeys", "APIKey")
    for key in APIKey.objects.select_related("account").iterator():
        tier = key.account.tier_override or key.account.tier
        rate_limit = key.rate_limit_override or REQUESTS_PER_MINUTE.get(tier, REQUESTS_PER_MINUTE["free"])
        APIKey.objects.filter(pk=key.pk).update(tier=tier, rate_limit=rate_limit)


class Migration(migrations.Migration):

    dependencies = [
        ("apikeys", "0003_apikey_verbose_name"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="rate_limit_override",
            field=models.PositiveIntegerField(blank=True, help_text="requests per minute", null=True),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="rate_limit",
            field=models.PositiveIntegerField(default=10, help_text="requests per minute"),
        ),
        migrations.RunPython(keep_overrides, restore_copies),
        migrations.RemoveField(model_name="apikey", name="rate_limit"),
        migrations.RemoveField(model_name="apikey", name="tier"),
    ]
