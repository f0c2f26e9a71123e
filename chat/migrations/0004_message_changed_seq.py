from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Greatest


def changed_at_most_at_the_last_known_seq(apps, schema_editor):
    # When a stored message last changed is not known; no later than its conversation's
    # last seq (or its checkpoint's, for a reply whose runner died) is. A socket resuming
    # from that seq or later has seen its last change; one resuming from earlier gets it
    # again (or, when more changed than fits a page, the whole state).
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    last_seq = Conversation.objects.filter(pk=OuterRef("conversation_id")).values("last_seq")[:1]
    Message.objects.update(changed_seq=Greatest(Subquery(last_seq), F("content_seq")))


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0003_message_runner"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="changed_seq",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["conversation", "changed_seq"], name="chat_messag_convers_087c50_idx"),
        ),
        # Last: PostgreSQL alters no table with row changes pending in the same transaction.
        migrations.RunPython(changed_at_most_at_the_last_known_seq, migrations.RunPython.noop, elidable=True),
    ]
