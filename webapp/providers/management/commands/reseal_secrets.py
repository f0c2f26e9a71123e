"""After adding a new encryption key in front: seal every stored secret with it."""

from django.core.management.base import BaseCommand

from webapp.providers.credentials import reseal_all


class Command(BaseCommand):
    help = "Re-encrypt every stored provider secret with the first key of SECRET_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        done = reseal_all()
        self.stdout.write(self.style.SUCCESS(f"Resealed {done} secret{'s' if done != 1 else ''} with the first key."))
        self.stdout.write(
            "Run this after every process restarted with the new key first; then the older keys can be removed."
        )
