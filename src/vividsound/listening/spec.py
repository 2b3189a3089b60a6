"""The test folder and its versioned ``test.json``.

A test folder holds::

    test.json         what is rated: conditions, prompts, clips (with sha256), check thresholds
    clips/<id>.wav    one file per clip; ``id`` is an opaque token, so a URL tells nothing of its condition
    ratings.sqlite    the ratings (created by ``serve``; see :mod:`vividsound.listening.store`)

``test.json`` is written atomically. While ``create`` runs it says ``"complete": false``; ``serve``
refuses such a folder, and rerunning the same ``create`` command finishes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vividsound.errors import InputError

FORMAT = "vividsound-listening-test"
FORMAT_VERSION = 1
TEST_FILE = "test.json"
DB_FILE = "ratings.sqlite"
CLIP_DIR = "clips"
SCALE_MAX = 10  # the paper's 0-10 scale (integer steps)
# The rating page's protocol version: every rating row records it; the server refuses a page of another
# version (a tab left open across an upgrade) rather than store answers given under other instructions.
PAGE_VERSION = "1"

KINDS = ("system", "retrieval", "reference", "noise")
RESERVED_NAMES = ("reference", "retrieval", "noise")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")

__all__ = ["Condition", "Prompt", "Clip", "Checks", "ListeningTest", "load_test", "save_test", "clip_token",
           "FORMAT_VERSION", "PAGE_VERSION", "SCALE_MAX", "TEST_FILE", "DB_FILE", "CLIP_DIR"]


@dataclass(frozen=True)
class Condition:
    """One thing rated: a model, the retrieval baseline, the real recording, or the noise check."""

    name: str  # shown in the report only, never to raters
    kind: str  # system | retrieval | reference | noise
    source: str = ""  # model folder, or corpus manifest (reference, retrieval)
    fingerprint: str = ""  # sha256 over the model's files (system, retrieval encoder)
    settings: dict[str, Any] = field(default_factory=dict)  # resolved sampler settings (system)
    clips_per_prompt: int = 1  # --per-prompt for systems; 1 for the others

    @property
    def is_check(self) -> bool:
        """Hidden attention checks: the noise clip, and the real recording (also a rated condition)."""
        return self.kind in ("noise", "reference")


@dataclass(frozen=True)
class Prompt:
    id: str  # p001, p002, ... in the prompts file's order
    text: str  # what raters read
    item: str | None = None  # the corpus item whose recording is the reference, when named


@dataclass(frozen=True)
class Clip:
    id: str  # opaque token; the file is clips/<id>.wav
    prompt: str  # Prompt.id
    condition: str  # Condition.name
    index: int  # 0..clips_per_prompt-1
    seed: int  # the sampling seed (system, retrieval, noise); 0 for references
    item: str | None = None  # the corpus item played (reference, retrieval)
    sha256: str = ""  # of the file, filled when the test is complete

    @property
    def file(self) -> str:
        return f"{CLIP_DIR}/{self.id}.wav"


@dataclass(frozen=True)
class Checks:
    """Attention-check rules, fixed when the test is made (``report`` can override them, and says so)."""

    noise_max_relevance: int = 3  # a page passes the noise check if the noise clip's relevance <= this
    reference_min_relevance: int = 5  # ... the reference check if the real recording's relevance >= this
    min_pass_rate: float = 0.75  # a rater is kept if they pass at least this share of their checks

    def __post_init__(self) -> None:
        for name in ("noise_max_relevance", "reference_min_relevance"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= SCALE_MAX:
                raise InputError(f"{name} must be an integer 0..{SCALE_MAX}, got {v!r}")
        r = self.min_pass_rate
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0:
            raise InputError(f"min_pass_rate must be a number in 0..1, got {r!r}")


@dataclass
class ListeningTest:
    """Everything ``serve`` and ``report`` need, as stored in ``test.json``."""

    id: str  # random hex; ties ratings.sqlite to this test and salts the clip tokens
    name: str
    created: str  # ISO 8601 UTC
    duration: float  # seconds, every clip
    sample_rate: int  # Hz, every clip
    seed: int
    per_prompt: int
    loudness_dbfs: float | None  # RMS level every clip was set to (None: left as generated)
    checks: Checks
    conditions: list[Condition]
    prompts: list[Prompt]
    clips: list[Clip]
    complete: bool = False
    plan: dict[str, Any] = field(default_factory=dict)  # create's options; a rerun must match to resume
    vividsound: str = ""  # library version that made it
    root: Path = field(default=Path("."), compare=False)  # the folder (not stored)

    def condition(self, name: str) -> Condition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise KeyError(name)

    def clips_of(self, prompt_id: str) -> list[Clip]:
        return [c for c in self.clips if c.prompt == prompt_id]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("root")
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **d}


def clip_token(test_id: str, prompt: str, condition: str, index: int) -> str:
    """The opaque id of a clip: a salted hash, stable across reruns of ``create`` (so it can resume)."""
    return hashlib.sha256(f"{test_id}\0{prompt}\0{condition}\0{index}".encode()).hexdigest()[:20]


def save_test(test: ListeningTest) -> Path:
    from vividsound.checkpoint import atomic_write_bytes

    path = test.root / TEST_FILE
    atomic_write_bytes(path, (json.dumps(test.to_dict(), indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def _build(d: dict[str, Any], root: Path, where: str) -> ListeningTest:
    try:
        checks = Checks(**d["checks"])
        conditions = [Condition(**c) for c in d["conditions"]]
        prompts = [Prompt(**p) for p in d["prompts"]]
        clips = [Clip(**c) for c in d["clips"]]
        rest = {k: d[k] for k in ("id", "name", "created", "duration", "sample_rate", "seed", "per_prompt",
                                  "loudness_dbfs", "complete", "plan", "vividsound")}
    except (KeyError, TypeError, InputError) as e:
        raise InputError(f"{where} is damaged: {type(e).__name__}: {e}") from None
    test = ListeningTest(**rest, checks=checks, conditions=conditions, prompts=prompts, clips=clips, root=root)
    names = {c.name for c in conditions}
    pids = {p.id for p in prompts}
    for c in clips:
        if c.condition not in names or c.prompt not in pids:
            raise InputError(f"{where} is damaged: clip {c.id} names an unknown condition or prompt")
    if any(c.kind not in KINDS for c in conditions):
        raise InputError(f"{where} is damaged: a condition kind is not one of {list(KINDS)}")
    return test


def load_test(folder: str | Path, *, complete: bool = True, check_clips: bool = False) -> ListeningTest:
    """Read a test folder; raises :class:`InputError` with one line for anything wrong.

    Args:
        complete: require ``create`` to have finished.
        check_clips: verify that every clip file exists with the recorded sha256 (``serve`` does this).
    """
    root = Path(folder)
    path = root / TEST_FILE
    if not root.is_dir():
        raise InputError(f"TEST_DIR {root}: not a folder")
    if not path.is_file():
        raise InputError(f"TEST_DIR {root} is not a listening test (no {TEST_FILE}); make one with "
                         "`vividsound listening-test create`")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"{path} is not a vividsound listening test (format {d.get('format') if isinstance(d, dict) else None!r})")
    if d.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path} has format version {d.get('format_version')!r}; this vividsound reads version "
                         f"{FORMAT_VERSION} (use the vividsound version that made it, or make the test again)")
    test = _build(d, root, str(path))
    if complete and not test.complete:
        raise InputError(f"{root}: the clips are not all generated yet; rerun the same `listening-test create` "
                         "command to finish")
    if check_clips:
        for c in test.clips:
            p = root / c.file
            if not p.is_file():
                raise InputError(f"clip {p} is missing (prompt {c.prompt}, condition {c.condition}); "
                                 "rerun the same `listening-test create` command to restore it")
            if c.sha256 and hashlib.sha256(p.read_bytes()).hexdigest() != c.sha256:
                raise InputError(f"clip {p} differs from the one recorded in {TEST_FILE} (sha256 mismatch); "
                                 "it was changed after the test was made")
    return test
