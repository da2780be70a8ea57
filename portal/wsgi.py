import os

from django.core.wsgi import get_wsgi_application

from portal import threads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
threads.set_role(threads.WEB)
application = get_wsgi_application()
