"""Celery tasks: thin interfaces over services."""

from asgiref.sync import async_to_sync
from celery import shared_task

from chat.turns.finishing import turns_sweep_interrupted
from webapp.providers.credentials import credentials_check_due


@shared_task
def sweep_interrupted_turns() -> int:
    return turns_sweep_interrupted()


@shared_task
def check_provider_keys() -> int:
    return async_to_sync(credentials_check_due)()
