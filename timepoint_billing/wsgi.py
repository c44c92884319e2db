import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timepoint_billing.settings")

django_application = get_wsgi_application()

from core.bodies import WholeBodies  # noqa: E402 -- imports Django code: after setup

# Request bodies are read whole before Django sees them: chunked ones decoded, ones
# shorter than their Content-Length refused (core/bodies.py).
application = WholeBodies(django_application)
