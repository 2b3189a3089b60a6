"""Pydantic models of the HTTP API: they validate requests and generate the OpenAPI spec.

The request model is built per server by :func:`make_request_model`, because its bounds (longest
duration, largest top-k, ...) come from the loaded model; the spec therefore states exactly the limits
the server enforces.
"""

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vividsound.pipeline import MIN_DURATION
from vividsound.server.config import Limits

AudioFormat = Literal["wav", "flac"]
MEDIA_TYPES: dict[str, str] = {"wav": "audio/wav", "flac": "audio/flac"}
EXAMPLE_PROMPT = "a dog barks while rain falls on a tin roof"


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; accept it as 5 (strict mode otherwise refuses floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_int(low: int, high: int) -> Any:
    """A strict integer in [low, high] (no "5" strings, no booleans) that also takes 5.0 as 5."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole_number)]


class GenerateRequestBase(BaseModel):
    """Fields shared by every server's request model (the bounded ones are added per server)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: AudioFormat = Field("wav", description="Audio file format of the results.")
    response: Literal["auto", "json"] = Field(
        "auto", description="`auto`: the audio bytes when the request makes one sound, else JSON with links; "
                            "`json`: JSON with links, always.")

    def prompt_list(self) -> list[str]:
        """The prompts of this request, whether given as ``prompt`` or ``prompts``."""
        return [self.prompt] if self.prompt is not None else list(self.prompts or [])  # type: ignore[attr-defined]


def make_request_model(limits: Limits) -> type[GenerateRequestBase]:
    """Build the ``GenerateRequest`` model whose bounds are this server's limits."""
    chars, max_prompts = limits.max_prompt_chars, limits.max_prompts
    # pattern: at least one non-space character (blank prompts are refused by the pipeline too)
    PromptText = Annotated[str, Field(min_length=1, max_length=chars, pattern=r"\S")]

    class GenerateRequest(GenerateRequestBase):
        """Text prompt(s) and sampler settings. Unset sampler settings use the model's defaults."""

        model_config = ConfigDict(extra="forbid", strict=True,
                                  json_schema_extra={"examples": [{"prompt": EXAMPLE_PROMPT, "duration": 1.0,
                                                                   "seed": 7}],
                                                     "oneOf": [{"required": ["prompt"]}, {"required": ["prompts"]}],
                                                     # a negative prompt needs guidance: cfg_scale unset or > 1
                                                     "dependentSchemas": {"negative_prompt": {"properties": {
                                                         "cfg_scale": {"exclusiveMinimum": 1}}}}})

        # prompt/prompts may be absent but not null: the spec's oneOf below says exactly one is present.
        prompt: str = Field(None, min_length=1, max_length=chars, pattern=r"\S",
                                      description=f"One prompt (1-{chars} characters). Give `prompt` or `prompts`.")
        prompts: list[PromptText] = Field(  # type: ignore[assignment]
            None, min_length=1, max_length=max_prompts,
            description=f"Several prompts (1-{max_prompts}, each 1-{chars} characters).")
        duration: Optional[float] = Field(None, ge=MIN_DURATION, le=limits.max_duration, allow_inf_nan=False,
                                          description=f"Seconds of audio, {MIN_DURATION} <= duration <= "
                                                      f"{limits.max_duration}.")
        top_k: Optional[whole_int(1, limits.max_top_k)] = Field(None,  # type: ignore[valid-type]
                                     description=f"Sample among the k most likely codes, 1..{limits.max_top_k}.")
        top_p: Optional[float] = Field(None, gt=0, le=1, allow_inf_nan=False,
                                       description="Nucleus sampling mass, 0 < top_p <= 1.")
        temperature: Optional[float] = Field(None, gt=0, le=100, allow_inf_nan=False,
                                             description="Sampling temperature, 0 < t <= 100.")
        cfg_scale: Optional[float] = Field(None, ge=0, le=100, allow_inf_nan=False,
                                           description="Classifier-free guidance scale, 0..100 (1 = off).")
        seed: Optional[whole_int(0, limits.max_seed)] = Field(None,  # type: ignore[valid-type]
                                    description="Seed of the first sound; sound j of a prompt uses seed + j. "
                                                "Unset: a random seed, returned with the result.")
        num_samples: whole_int(1, limits.max_samples) = Field(1,  # type: ignore[valid-type]
                                 description=f"Variations per prompt, 1..{limits.max_samples}.")
        negative_prompt: Optional[str] = Field(None, min_length=1, max_length=chars, pattern=r"\S",
                                               description="Guide away from this description (guidance against "
                                                           "it; cfg_scale 3 unless cfg_scale > 1 is given).")

        @model_validator(mode="after")
        def _one_prompt_field(self) -> "GenerateRequest":
            if (self.prompt is None) == (self.prompts is None):
                raise ValueError("give exactly one of 'prompt' (a string) or 'prompts' (a list of strings)")
            return self

    return GenerateRequest


class ResultItem(BaseModel):
    """One generated sound, stored on the server under a random id."""

    id: str = Field(description="Result id (32 hex digits).")
    prompt: str
    seed: int
    url: str = Field(description="GET this for the audio file.")
    spectrogram_url: str = Field(description="GET this for a PNG of the log-mel spectrogram.")
    format: AudioFormat
    media_type: str
    sample_rate: int
    duration: float = Field(description="Seconds of audio.")


class Settings(BaseModel):
    """The settings the sounds were generated with (defaults filled in)."""

    duration: float
    top_k: Optional[int]
    top_p: Optional[float]
    temperature: float
    cfg_scale: float
    negative_prompt: Optional[str] = None
    model: str
    vocoder: str
    vividsound: str


class GenerateResponse(BaseModel):
    """Several results (or one, when ``response`` is ``json``): links to the files, settings echoed."""

    results: list[ResultItem]
    settings: Settings
    queued_s: float = Field(description="Seconds the request waited for the model.")
    elapsed_s: float = Field(description="Seconds from arrival to answer.")
    batch_rows: int = Field(description="Sounds in the model call that served this request (micro-batching).")


class ErrorResponse(BaseModel):
    """Every error: one line saying what was wrong and what is allowed."""

    error: str
    detail: Optional[list[dict[str, Any]]] = Field(None, description="Per-field problems (validation errors).")


class QueueState(BaseModel):
    pending: int = Field(description="Requests waiting for the model.")
    max: int
    busy: bool = Field(description="The model is generating now.")
    tokens_done: int = Field(description="Tokens generated so far in the current model call.")
    tokens_total: int
    accepted: int = Field(0, description="Requests ever queued since start.")
    cancelled: int = Field(0, description="Queued requests dropped before they ran (client gone or timed out).")
    finished: int = Field(0, description="Queued requests the model has run (answered, or dropped when the client "
                                         "had left meanwhile).")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    version: str
    model: str
    uptime_s: float
    queue: QueueState
    served: int = Field(description="Requests answered with sounds since start.")
    auth: bool = Field(description="An API key is required.")


class ModelResponse(BaseModel):
    """The loaded model (``TextToSound.info()``) and the limits this server enforces."""

    model_config = ConfigDict(extra="allow")

    name: str
    components: dict[str, Any]
    mel: dict[str, Any]
    defaults: dict[str, Any]
    limits: dict[str, Any]
