"""Exception types. Every user-facing failure is one of these, with a one-line message."""


class VividsoundError(Exception):
    """Base class of vividsound's errors; the CLI prints its message on one line."""


class ConfigError(VividsoundError, ValueError):
    """A configuration value, key or file is wrong."""


class CheckpointError(VividsoundError):
    """A checkpoint folder is missing, truncated, of another version or does not fit the model."""


class InputError(VividsoundError, ValueError):
    """A call argument (prompt, duration, sampler option, ...) is out of range or of the wrong type."""
