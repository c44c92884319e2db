import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timepoint_billing.settings")

django_application = get_wsgi_application()

from core.bodies import WholeBodies  # noqa: E402 -- imports Django code: after setup
from timepoint_billing.read_lane import with_read_lane  # noqa: E402

# Request bodies are read whole before Django sees them: chunked ones decoded, ones
# shorter than their Content-Length refused (core/bodies.py). An API key's credit reads
# take the read lane (timepoint_billing/read_lane.py), which admits no body.
application = WholeBodies(with_read_lane(django_application))
