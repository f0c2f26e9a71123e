from django.conf import settings


def grok(request) -> dict:
    """Every page says when replies come from the local simulator."""
    return {"grok_simulated": settings.GROK_SIMULATED}
