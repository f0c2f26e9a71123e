"""Celery tasks: thin interfaces over services."""

from celery import shared_task

from chat.turns.finishing import turns_sweep_interrupted


@shared_task
def sweep_interrupted_turns() -> int:
    return turns_sweep_interrupted()
