"""People, and what each upstream request cost them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A team member. Teams, roles and quotas come with the admin console."""


class UsageRecord(models.Model):
    """One row per upstream request: what was asked, what it cost, how long it took."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    # By id, not by foreign key: this app knows nothing of chat (DESIGN.md), and a record
    # outlives the conversation it was for.
    conversation_id = models.BigIntegerField(null=True, db_index=True)
    message_id = models.BigIntegerField(null=True, db_index=True)
    request_id = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=50, default="responses")
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    image_tokens = models.PositiveIntegerField(default=0)
    cost_ticks = models.BigIntegerField(null=True)  # 1e-10 USD, as xAI reports it
    latency_ms = models.PositiveIntegerField(null=True)
    ttft_ms = models.PositiveIntegerField(null=True)
    status_code = models.PositiveIntegerField(null=True)
    error_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]
