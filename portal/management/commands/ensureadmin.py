"""Make sure a local administrator can sign in, and say how.

`make run` calls this on every start. The password comes from CV_ADMIN_PASSWORD when set;
otherwise one is generated once and kept in the data directory (mode 0600) so it can be
printed again on the next start instead of being reset.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the local admin login if missing and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        username = settings.CV_ADMIN_USERNAME
        password, origin = self._password()
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username=username, email="", password=password)
        elif settings.CV_ADMIN_PASSWORD and not user.check_password(password):
            # An explicit password in the environment wins, so a forgotten one can be reset.
            user.set_password(password)
            user.save(update_fields=["password"])
        elif not user.check_password(password):
            self.stdout.write(f"Sign in as {username!r} with the password you set.")
            return
        self.stdout.write(f"Sign in as {username!r} with password {password!r} ({origin}).")

    def _password(self) -> tuple[str, str]:
        if settings.CV_ADMIN_PASSWORD:
            return settings.CV_ADMIN_PASSWORD, "from CV_ADMIN_PASSWORD"
        path = settings.CV_DATA_DIR / "admin-password"
        if path.is_file():
            return path.read_text().strip(), f"kept in {path}"
        password = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(password + "\n")
        return password, f"generated, kept in {path}"
