"""Azure Custom Vision's error codes and image statuses, listed once.

Services raise `ValidationError(..., code=AzureCode.X)`, the API raises `ApiError(status,
AzureCode.X, ...)`, and the OpenAPI document lists each operation's codes from here: a code
this server answers with is a member, and a member is what an SDK caller may see in an
error's `code` (Microsoft's SDKs expose it as `CustomVisionError.code`).

It lives on the ground floor so that services in every app can name a code without reaching
up to the API; the engine (Django-free, below everything) keeps its own `ImageStatus`, whose
values this catalogue also lists (tests keep the two in step).
"""

from __future__ import annotations

from enum import StrEnum


class AzureCode(StrEnum):
    # --- Any operation ---------------------------------------------------------------------
    BAD_REQUEST = "BadRequest"  # a client's mistake with no more precise code
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    METHOD_NOT_ALLOWED = "MethodNotAllowed"
    REQUEST_ENTITY_TOO_LARGE = "RequestEntityTooLarge"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    TOO_MANY_REQUESTS = "TooManyRequests"
    SERVICE_UNAVAILABLE = "ServiceUnavailable"
    INTERNAL_SERVER_ERROR = "InternalServerError"

    # --- Requests ----------------------------------------------------------------------------
    BAD_REQUEST_INVALID = "BadRequestInvalid"
    BAD_REQUEST_INVALID_IDS = "BadRequestInvalidIds"
    BAD_REQUEST_INVALID_JSON = "BadRequestInvalidJson"
    BAD_REQUEST_NOT_SUPPORTED = "BadRequestNotSupported"
    BAD_REQUEST_OPERATION_NOT_SUPPORTED = "BadRequestOperationNotSupported"
    BAD_REQUEST_INVALID_ARTIFACT_URI = "BadRequestInvalidArtifactUri"

    # --- Projects and their transfer ---------------------------------------------------------
    BAD_REQUEST_PROJECT_NAME = "BadRequestProjectName"
    BAD_REQUEST_DOMAIN_INVALID = "BadRequestDomainInvalid"
    # A domain of the other project type (classification <-> object detection).
    BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE = (
        "BadRequestProjectUnsupportedDomainTypeChange"
    )
    BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM = "BadRequestProjectUnsupportedExportPlatform"
    BAD_REQUEST_EXCEEDED_QUOTA = "BadRequestExceededQuota"
    BAD_REQUEST_INVALID_IMPORT = "BadRequestInvalidImport"
    BAD_REQUEST_INVALID_IMPORT_TOKEN = "BadRequestInvalidImportToken"  # noqa: S105
    IMPORT_ALREADY_RUNNING = "ImportAlreadyRunning"  # ours: an Azure import still running

    # --- Tags --------------------------------------------------------------------------------
    BAD_REQUEST_TAG_NAME_NOT_UNIQUE = "BadRequestTagNameNotUnique"
    # Tags set on an object-detection image directly: its tags are its regions'.
    BAD_REQUEST_IMAGE_TAGS = "BadRequestImageTags"

    # --- Regions (object detection) ----------------------------------------------------------
    BAD_REQUEST_IMAGE_REGIONS = "BadRequestImageRegions"
    ERROR_REGION_PROPOSAL = "ErrorRegionProposal"

    # --- Images ------------------------------------------------------------------------------
    BAD_REQUEST_IMAGE_BATCH = "BadRequestImageBatch"
    BAD_REQUEST_EXCEEDED_BATCH_SIZE = "BadRequestExceededBatchSize"
    BAD_REQUEST_IMAGE_STREAM = "BadRequestImageStream"
    BAD_REQUEST_IMAGE_URL = "BadRequestImageUrl"
    BAD_REQUEST_IMAGE_FORMAT = "BadRequestImageFormat"
    BAD_REQUEST_IMAGE_SIZE_BYTES = "BadRequestImageSizeBytes"
    BAD_REQUEST_IMAGE_DIMENSIONS = "BadRequestImageDimensions"
    BAD_REQUEST_IMAGE_METADATA_KEY = "BadRequestImageMetadataKey"
    BAD_REQUEST_IMAGE_METADATA_VALUE = "BadRequestImageMetadataValue"

    # --- Image statuses (ImageCreateResult / ImageMetadataUpdateEntry), which are also the
    # code of a call that fails as a whole on one image's tags -------------------------------
    ERROR_SOURCE = "ErrorSource"
    ERROR_IMAGE_FORMAT = "ErrorImageFormat"
    ERROR_IMAGE_SIZE = "ErrorImageSize"
    ERROR_IMAGE_DIMENSIONS = "ErrorImageDimensions"
    ERROR_IMAGE_NOT_FOUND = "ErrorImageNotFound"
    ERROR_LIMIT_EXCEED = "ErrorLimitExceed"
    ERROR_TAG_LIMIT_EXCEED = "ErrorTagLimitExceed"
    ERROR_REGION_LIMIT_EXCEED = "ErrorRegionLimitExceed"
    ERROR_NEGATIVE_AND_REGULAR_TAG = "ErrorNegativeAndRegularTagOnSameImage"
    ERROR_INVALID_TAG = "ErrorInvalidTag"
    ERROR_UNKNOWN = "ErrorUnknown"

    # --- Training ----------------------------------------------------------------------------
    BAD_REQUEST_TRAINING_VALIDATION_FAILED = "BadRequestTrainingValidationFailed"
    BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED = (
        "BadRequestMultiClassClassificationTrainingValidationFailed"
    )
    BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED = (
        "BadRequestMultiLabelClassificationTrainingValidationFailed"
    )
    BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED = "BadRequestDetectionTrainingValidationFailed"
    BAD_REQUEST_NOT_ENOUGH_IMAGES_PER_TAG = "BadRequestNotEnoughImagesPerTag"
    BAD_REQUEST_TRAINING_NOT_NEEDED = "BadRequestTrainingNotNeeded"
    BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS = "BadRequestTrainingAlreadyInProgress"
    BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH = (
        "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining"
    )

    # --- Iterations, publishing, prediction --------------------------------------------------
    BAD_REQUEST_ITERATION_NAME = "BadRequestIterationName"
    BAD_REQUEST_ITERATION_IS_NOT_TRAINED = "BadRequestIterationIsNotTrained"
    BAD_REQUEST_ITERATION_IS_PUBLISHED = "BadRequestIterationIsPublished"
    BAD_REQUEST_NO_VALID_ITERATION = "BadRequestNoValidIteration"
    BAD_REQUEST_INVALID_PUBLISH_NAME = "BadRequestInvalidPublishName"
    BAD_REQUEST_INVALID_PUBLISH_TARGET = "BadRequestInvalidPublishTarget"
    BAD_REQUEST_PUBLISH_NAME_NOT_UNIQUE = "BadRequestPublishNameNotUnique"

    # --- Exports -----------------------------------------------------------------------------
    BAD_REQUEST_EXPORT_WHILE_TRAINING = "BadRequestExportWhileTraining"
    BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS = "BadRequestExportAlreadyInProgress"


_BY_VALUE: dict[str, AzureCode] = {code.value: code for code in AzureCode}


def azure_code(value: object) -> AzureCode | None:
    """`value` as a member of the catalogue, or None when it is no code of Azure's (Django's
    own validation codes, "invalid" or "max_length", are not)."""
    return _BY_VALUE.get(value) if isinstance(value, str) else None
