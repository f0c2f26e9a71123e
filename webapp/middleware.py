"""What a signed-in person is shown stays out of every cache: a shared proxy's, and the
browser's own disk, where the next user of the machine could find it with Back."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.deprecation import MiddlewareMixin


class PrivatePagesMiddleware(MiddlewareMixin):
    """``Cache-Control: private, no-store`` on every response to a signed-in user. Static
    files never get here: WhiteNoise answers them earlier, with their long caching."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
