from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_message_content_seq"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="runner",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
