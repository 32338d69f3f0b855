from django.db import migrations, models

HELP = "the parameters a default factory made for this run: a re-run makes its own (null: not recorded)"


class Migration(migrations.Migration):
    """Sessions from before this migration keep NULL: nobody recorded which of their values were generated."""

    dependencies = [
        ('sessions_app', '0005_rerun_of_help_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='backgroundsession',
            name='generated',
            field=models.JSONField(blank=True, null=True, help_text=HELP),
        ),
        migrations.AlterField(
            model_name='backgroundsession',
            name='generated',
            field=models.JSONField(blank=True, null=True, default=list, help_text=HELP),
        ),
    ]
