"""Create the first admin on a fresh install: asks on a terminal, else prints a one-time password."""

from __future__ import annotations

import getpass
import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import ValidationError, validate_password
from django.core.management.base import BaseCommand

from webapp.accounts.teams import team_create_first


class Command(BaseCommand):
    help = "Create the first admin account if there is no account yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--no-input", action="store_true", help="never ask; print a generated password")

    def handle(self, *args, username: str, no_input: bool, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        password = None
        if not no_input and sys.stdin.isatty():
            password = self._ask()
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        admin = User.objects.create_superuser(username=username, password=password, email="")
        team_create_first(owner=admin)
        self.stdout.write(self.style.SUCCESS(f"Created the first admin account: {username}"))
        if generated:
            self.stdout.write(f"One-time password (shown once, change it after signing in): {password}")

    def _ask(self) -> str | None:
        for _ in range(3):
            password = getpass.getpass("Choose a password for the admin account (empty: generate one): ")
            if not password:
                return None
            try:
                validate_password(password)
            except ValidationError as error:
                self.stderr.write(" ".join(error.messages))
                continue
            if getpass.getpass("Again: ") == password:
                return password
            self.stderr.write("The two passwords differ.")
        return None
