"""The team's provider credentials (secrets sealed at rest) and the team's choice of models."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team


class Credential(models.Model):
    """A way to reach Grok: an xAI key, a Vertex AI service account, or a gateway's key.

    ``secret`` holds only ciphertext (webapp.providers.vault); ``last_four`` is all that is
    ever shown of it again. A credential with a ``user`` is that person's own key, usable
    in the team when the team allows it."""

    class Kind(models.TextChoices):
        XAI = "xai", "xAI"
        VERTEX = "vertex", "Google Vertex AI"
        GATEWAY = "openai_compatible", "OpenAI-compatible gateway"

    class Status(models.TextChoices):
        UNCHECKED = "unchecked", "Not checked yet"
        OK = "ok", "Working"
        FAILED = "failed", "Not working"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="credentials")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="credentials"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    preset = models.CharField(max_length=20)  # chat.grok.providers.Preset value
    label = models.CharField(max_length=100)
    base_url = models.URLField(max_length=500)
    secret = models.TextField()  # Fernet token: an API key, or a service account's JSON
    last_four = models.CharField(max_length=4)
    vertex_project = models.CharField(max_length=100, blank=True)
    vertex_location = models.CharField(max_length=50, blank=True)
    is_default = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    from_environment = models.BooleanField(default=False)  # imported from XAI_API_KEY
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNCHECKED)
    status_text = models.CharField(max_length=500, blank=True)  # the last check, in words
    checked_at = models.DateTimeField(null=True, blank=True)
    # The Grok models this credential serves, as its last catalogue sync found them
    # (chat.grok.LanguageModel fields plus "upstream_id"); tens of entries at most.
    catalogue = models.JSONField(default=list, blank=True)
    # Its image generation models (xAI's /v1/image-generation-models: id, aliases, price).
    image_catalogue = models.JSONField(default=list, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "label", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"],
                condition=models.Q(is_default=True, user__isnull=True),
                name="one_default_credential_per_team",
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def masked(self) -> str:
        return f"…{self.last_four}" if self.last_four else "(hidden)"


class TeamModel(models.Model):
    """A team's choice about one model: hidden or offered, pinned to a credential, the default.

    Models are offered unless a row says otherwise, so a model that appears upstream
    is usable without an admin's visit."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="model_choices")
    model = models.CharField(max_length=100)  # the canonical id, e.g. grok-4.3
    enabled = models.BooleanField(default=True)
    credential = models.ForeignKey(Credential, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    is_default = models.BooleanField(default=False)
    default_effort = models.CharField(max_length=20, blank=True)
    # The most a reply with this model may write (output and reasoning tokens); None: MAX_OUTPUT_TOKENS.
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "model"], name="one_choice_per_team_model"),
            models.UniqueConstraint(
                fields=["team"], condition=models.Q(is_default=True), name="one_default_model_per_team"
            ),
        ]
