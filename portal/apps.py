from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The developer portal (/portal/): server-rendered pages over the feature apps,
    its template tags and templates. No models; no app imports it."""

    name = "portal"
    verbose_name = "Developer portal"
