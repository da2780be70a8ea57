"""The import jobs (an Azure account's, a project archive's) and the Azure listing, as the one
job life cycle (`core.jobs`) sees them: each says only what differs. Their statuses are the
life cycle's own (Queued, Running, Completed, Failed)."""

from __future__ import annotations

from core.jobs import JobKind, after, limit
from projects.models import ArchiveImport, AzureImport, AzureListing

# A heartbeat comes at least every chunk of images.
_IMPORT_STOPPED = "CV_IMPORT_HEARTBEAT_TIMEOUT_SECONDS"

AZURE_IMPORT = JobKind(
    model=AzureImport,
    stale=limit(
        "The worker running the import stopped. Start it again: it continues where it stopped.",
        _IMPORT_STOPPED,
    ),
    # Resumable: a worker killed mid-import has its message back when a worker starts again,
    # and continuing is safe (nothing is copied twice).
    reclaim_after=after("CV_IMPORT_RECLAIM_SECONDS"),
    # A lost message would otherwise hold the user's one import slot for ever; a long queue on
    # a busy imports worker is not a lost message, hence only when no import shows life.
    lost=limit(
        "No worker took the import. Is the imports worker running? Start the import again "
        "once it is.",
        "CV_QUEUED_TIMEOUT_SECONDS",
    ),
    lost_only_when_idle=True,
    # The key is needed no longer (a resumed run is a new job); a completed job forgets it too.
    failed_forgets={"key_encrypted": ""},
)

ARCHIVE_IMPORT = JobKind(
    model=ArchiveImport,
    stale=limit(
        "The worker importing the archive stopped, and what it had imported was removed. "
        "Import the archive again.",
        _IMPORT_STOPPED,
    ),
    lost=limit(
        "No worker took the import. Is the imports worker running? Import the archive again "
        "once it is.",
        "CV_QUEUED_TIMEOUT_SECONDS",
    ),
    failed_forgets={"archive": ""},  # then the stored file is deleted
)

_LISTING_UNFINISHED = (
    "The listing did not finish (no worker took it, or its worker stopped). "
    "List the projects again."
)

AZURE_LISTING = JobKind(
    model=AzureListing,
    # No heartbeat: the listing's whole run is bounded by its own time limit.
    stale=limit(
        _LISTING_UNFINISHED, "CV_AZURE_LISTING_TIMEOUT_SECONDS", "CV_IMPORT_RECLAIM_SECONDS"
    ),
    lost=limit(_LISTING_UNFINISHED, "CV_QUEUED_TIMEOUT_SECONDS"),
    beat_field=None,
    phase_field=None,
    # A completed listing keeps its key until an import starts from it.
    failed_forgets={"key_encrypted": ""},
)
