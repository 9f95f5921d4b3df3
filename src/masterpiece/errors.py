"""The one exception tree of Masterpiece.

Every error the library raises on purpose derives from :class:`MasterpieceError`, and each
message says what went wrong and what to do about it. Third-party errors (Pillow, OpenCV,
PyAV, HTTP clients, torch loading) are translated into these at the edge where they happen.

::

    MasterpieceError
    ├── InvalidInputError (ValueError)          bad user input of any kind
    │   ├── InvalidImageError                   not an image, corrupt, truncated, unsupported
    │   │   └── ImageTooLargeError              above the pixel or byte limit (decompression bombs)
    │   ├── InvalidVideoError                   not a video, no video stream, unsupported codec
    │   ├── InvalidHintError                    colour hints outside the image or malformed
    │   ├── NotAcceptableError                  (service) the Accept header allows no image type written
    │   └── OutputTooLargeError                 (service) the image is too large for the output type
    ├── OutputError (OSError)                   an output cannot be written (exists, not writable, disk full)
    │   └── OutputExistsError                   refusing to overwrite (an input, or without --overwrite)
    ├── ModelError
    │   ├── UnknownModelError (KeyError)        no registered model of that name
    │   ├── ModelUnavailableError               (service) the server cannot load a model
    │   └── WeightsError                        weights missing, unreadable or wrong
    │       ├── WeightsNotFoundError            not in the cache and cannot be downloaded
    │       ├── DownloadError                   the download failed
    │       ├── ChecksumMismatchError           sha256 differs from the published one
    │       ├── UnsafeCheckpointError           a checkpoint that would execute code when loaded
    │       └── IncompatibleWeightsError        keys or shapes do not match the architecture
    ├── ConfigError (ValueError)                invalid settings (temperature, sizes, training config)
    │   └── MissingExtraError                   the feature needs an optional extra that is not installed
    ├── DataError                               a training/evaluation data set is empty or unusable
    └── ServiceError                            the HTTP service refuses a request at one of its limits
        ├── ServiceBusyError                    every colorization slot busy, or the queue full
        ├── ColorizationTimeoutError            a colorization took longer than the request time limit
        └── BodyTooLargeError                   the request body passed the upload limit while read
"""

from __future__ import annotations

__all__ = [
    "BodyTooLargeError",
    "ChecksumMismatchError",
    "ColorizationTimeoutError",
    "ConfigError",
    "DataError",
    "DownloadError",
    "ImageTooLargeError",
    "IncompatibleWeightsError",
    "InvalidHintError",
    "InvalidImageError",
    "InvalidInputError",
    "InvalidVideoError",
    "MasterpieceError",
    "MissingExtraError",
    "ModelError",
    "ModelUnavailableError",
    "NotAcceptableError",
    "OutputError",
    "OutputExistsError",
    "OutputTooLargeError",
    "ServiceBusyError",
    "ServiceError",
    "UnknownModelError",
    "UnsafeCheckpointError",
    "WeightsError",
    "WeightsNotFoundError",
]


class MasterpieceError(Exception):
    """Base class of every error Masterpiece raises on purpose."""


class InvalidInputError(MasterpieceError, ValueError):
    """The input given by the user cannot be used."""


class InvalidImageError(InvalidInputError):
    """A file or buffer is not a readable image (corrupt, truncated, unsupported format)."""


class ImageTooLargeError(InvalidImageError):
    """An image exceeds the configured pixel or byte limit (protects against decompression bombs)."""


class InvalidVideoError(InvalidInputError):
    """A file is not a readable video, has no video stream, or uses an unsupported codec."""


class InvalidHintError(InvalidInputError):
    """Colour hints are malformed or lie outside the image."""


class NotAcceptableError(InvalidInputError):
    """The service: the Accept header names no image type the service writes (406)."""


class OutputTooLargeError(InvalidInputError):
    """The service: the image is larger than the requested output type can store (422)."""


class OutputError(MasterpieceError, OSError):
    """An output cannot be written."""


class OutputExistsError(OutputError):
    """Writing would overwrite an existing file (an input, or an output without ``overwrite``)."""


class ModelError(MasterpieceError):
    """A model cannot be created or loaded."""


class UnknownModelError(ModelError, KeyError):
    """No model is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would otherwise print the message in quotes
        return str(self.args[0]) if self.args else ""


class ModelUnavailableError(ModelError):
    """The service: the server cannot load a model (its configuration, weights or device): 503,
    not the client's fault."""


class WeightsError(ModelError):
    """Weights are missing, unreadable or do not match."""


class WeightsNotFoundError(WeightsError):
    """The weights are not cached and cannot be downloaded (offline, or no source known)."""


class DownloadError(WeightsError):
    """Downloading weights failed."""


class ChecksumMismatchError(WeightsError):
    """A weights file does not have the published sha256 (truncated or tampered)."""


class UnsafeCheckpointError(WeightsError):
    """A checkpoint would execute code when unpickled; it is refused."""


class IncompatibleWeightsError(WeightsError):
    """The keys or tensor shapes of a checkpoint do not match the architecture."""


class ConfigError(MasterpieceError, ValueError):
    """A setting is out of range or inconsistent."""


class MissingExtraError(ConfigError):
    """The feature needs an optional dependency that is not installed (the message names the
    extra: ``pip install 'masterpiece[torch]'``)."""


class DataError(MasterpieceError):
    """A data set for training or evaluation is empty or unusable."""


class ServiceError(MasterpieceError):
    """The HTTP service refuses or abandons a request at one of its limits."""


class ServiceBusyError(ServiceError):
    """Every colorization slot stayed busy (or the queue is full): answer 503."""


class ColorizationTimeoutError(ServiceError):
    """A colorization took longer than the request time limit: answer 504."""


class BodyTooLargeError(ServiceError):
    """The request body passed the limit while it was being read (413)."""
