import os

from django.core.wsgi import get_wsgi_application

from core import threads
from engine.runtime import return_freed_memory

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
threads.set_role(threads.WEB)
# Users' images are decoded here: their memory goes back to the system once freed.
return_freed_memory()
application = get_wsgi_application()

# Kept predictions that a web process which died (kill -9, a crash) answered but had not yet
# written are in its journal: the next one to start writes them.
from prediction.services.keeping import journals_replay_from_now_on  # noqa: E402 (apps ready)

journals_replay_from_now_on()
