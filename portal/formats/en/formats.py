# One date format across the portal: Django's en default ("Nov. 27, 2026, 9:20 a.m.") sat next to
# hand-written "M j, Y H:i" in some templates. Templates ask for DATETIME_FORMAT; this says what
# it is.
DATETIME_FORMAT = "M j, Y H:i"
DATE_FORMAT = "M j, Y"
SHORT_DATETIME_FORMAT = "M j, Y H:i"
