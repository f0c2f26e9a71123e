"""Conversations and their messages (a tree: editing or regenerating starts a branch)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Conversation(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, default="New conversation")
    model = models.CharField(max_length=100, blank=True)
    # Frames about this conversation carry an increasing seq; the running turn owns the
    # counter in memory and writes it back here at checkpoints and at the end.
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "deleted_at", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class State(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    RUNNING = (State.PENDING, State.STREAMING)

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    role = models.CharField(max_length=10, choices=Role.choices)
    client_id = models.UUIDField(null=True, blank=True, unique=True)
    content = models.TextField(blank=True)
    # While a reply runs, the seq its checkpointed content and reasoning are exact as of.
    content_seq = models.BigIntegerField(default=0)
    # The seq of the frame that told followers of its last change: a socket that resumes
    # after seq S needs only the messages changed after S.
    changed_seq = models.BigIntegerField(default=0)
    reasoning = models.TextField(blank=True)
    citations = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=100, blank=True)
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.COMPLETED)
    error = models.JSONField(null=True, blank=True)
    upstream_response_id = models.CharField(max_length=200, blank=True)
    stored_upstream = models.BooleanField(default=False)
    # The provider key the reply went through (webapp.providers; by id, none for the
    # deployment's): a later turn chains on its stored response only through the same key.
    upstream_credential_id = models.BigIntegerField(null=True, blank=True)
    usage = models.JSONField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # While a reply runs: the channel of the web process running it, where Stop and
    # snapshot requests from other processes are sent ("" in the single-machine mode).
    runner = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"]),
            models.Index(fields=["conversation", "changed_seq"]),
        ]

    @property
    def is_running(self) -> bool:
        return self.state in self.RUNNING
