"""Someone removed from their last team has no chat: their socket is refused at connect."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from .conftest import Socket

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_a_teamless_persons_socket_is_refused_at_once(alice):
    socket = Socket(alice)
    assert await socket.connect()  # a person who was never in a team (the single-team default) chats
    await socket.close()

    alice.teamless_since = timezone.now()
    await database_sync_to_async(alice.save)()
    assert not await Socket(alice).connect()
