"""Sign-in throttling: per account at a few failures, per address at many.

django-axes counts failures per account (`AXES_LOCKOUT_PARAMETERS = ["username"]`). An address
gets a limit of its own, ten times higher by default (`CV_SIGNIN_ADDRESS_FAILURE_LIMIT`): an
office or a mobile network puts many people behind one address, and one of them mistyping a
password five times must not lock all of them out, while one address trying password after
password across many accounts is still paused.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class SigninThrottle(AxesDatabaseHandler):
    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        """Whether a sign-in is refused before the password is checked."""
        return super().is_locked(request, credentials) or self._address_locked(request)

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        """After a failure is recorded, axes decides the lockout page from the account's count
        alone; the address's count can call for it too."""
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and self._address_locked(request):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]

    def _address_locked(self, request: HttpRequest) -> bool:
        address = getattr(request, "axes_ip_address", None)
        if not address:
            return False
        failures = AccessAttempt.objects.filter(
            ip_address=address, attempt_time__gte=get_cool_off_threshold(request)
        ).aggregate(total=Sum("failures_since_start"))["total"]
        return (failures or 0) >= settings.CV_SIGNIN_ADDRESS_FAILURE_LIMIT
