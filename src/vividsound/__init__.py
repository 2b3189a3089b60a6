"""vividsound: diverse and vivid sound generation from text descriptions.

Importing this package is light: torch is imported, but transformers, web frameworks and plotting
libraries are imported only when a feature that needs them is used.

    >>> from vividsound import TextToSound
    >>> tts = TextToSound.from_pretrained()          # the bundled default model, offline
    >>> out = tts("a dog barks while rain falls", duration=5.0, seed=0)
    >>> out.save("dog.wav")
"""

__version__ = "0.1.0"

from vividsound.errors import CheckpointError, ConfigError, InputError, VividsoundError  # noqa: E402

__all__ = [
    "__version__",
    "TextToSound",
    "AudioOutput",
    "MelConfig",
    "VividsoundError",
    "InputError",
    "ConfigError",
    "CheckpointError",
]


def __getattr__(name: str):  # lazy public API (PEP 562)
    if name in ("TextToSound", "AudioOutput"):
        from vividsound import pipeline

        return getattr(pipeline, name)
    if name == "MelConfig":
        from vividsound.audio import MelConfig

        return MelConfig
    raise AttributeError(f"module 'vividsound' has no attribute {name!r}")
