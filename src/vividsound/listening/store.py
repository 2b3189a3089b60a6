"""The ratings database: SQLite (standard library) in WAL mode, one row per rating.

Durability: a page's ratings are written in one transaction with ``synchronous=FULL``, and the server
answers the page only after the commit returns, so a rating the page was told is saved survives a
killed server (and a power cut). Flooding: ``UNIQUE (rater, clip)`` makes a second rating of the same
clip by the same rater impossible; sending the same page again is answered "already saved" (idempotent),
sending other scores for a page already saved is refused (:class:`RatingConflict`): ratings are final.

Raters are pseudonymous: a random id and a secret token, of which only the sha256 is stored.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from vividsound.errors import InputError, VividsoundError
from vividsound.listening.spec import SCALE_MAX

SCHEMA_VERSION = 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS raters (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    id INTEGER PRIMARY KEY,
    rater TEXT NOT NULL REFERENCES raters(id),
    prompt TEXT NOT NULL,
    clip TEXT NOT NULL,
    condition TEXT NOT NULL,
    relevance INTEGER NOT NULL CHECK (typeof(relevance) = 'integer' AND relevance BETWEEN 0 AND {SCALE_MAX}),
    quality INTEGER NOT NULL CHECK (typeof(quality) = 'integer' AND quality BETWEEN 0 AND {SCALE_MAX}),
    created TEXT NOT NULL,
    page_version TEXT NOT NULL,
    UNIQUE (rater, clip)
);
CREATE INDEX IF NOT EXISTS ratings_rater_prompt ON ratings (rater, prompt);
"""

__all__ = ["RatingStore", "Rating", "RatingIn", "RatingConflict", "SCHEMA_VERSION"]


class RatingConflict(VividsoundError):
    """Other scores for a page this rater already saved (ratings are final)."""


@dataclass(frozen=True)
class RatingIn:
    """One clip's scores as a page sends them."""

    clip: str
    condition: str
    relevance: int  # 0..10
    quality: int  # 0..10


@dataclass(frozen=True)
class Rating:
    """One stored row."""

    rater: str
    prompt: str
    clip: str
    condition: str
    relevance: int
    quality: int
    created: str  # ISO 8601 UTC, milliseconds
    page_version: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def check_score(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SCALE_MAX:
        raise InputError(f"{name} is {value!r}; allowed: an integer 0..{SCALE_MAX}")
    return value


class RatingStore:
    """The ratings of one test (``test_id``) in the SQLite file ``path`` (created when missing)."""

    def __init__(self, path: str | Path, test_id: str, *, create: bool = True) -> None:
        self.path = Path(path)
        self.test_id = test_id
        if not self.path.is_file() and not create:
            raise InputError(f"no ratings yet: {self.path} does not exist (serve the test first)")
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if not meta:
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("schema_version", str(SCHEMA_VERSION)), ("test_id", test_id)])
            db.execute("COMMIT")
        if meta:
            if meta.get("schema_version") != str(SCHEMA_VERSION):
                raise InputError(f"{self.path} has schema version {meta.get('schema_version')!r}; this vividsound "
                                 f"reads version {SCHEMA_VERSION}")
            if meta.get("test_id") != test_id:
                raise InputError(f"{self.path} holds the ratings of another test (id {meta.get('test_id')}), "
                                 "not of this test.json")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: the server calls from a thread pool, and SQLite connections are cheap.
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the page hears "saved"
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        finally:
            db.close()

    # ----- raters --------------------------------------------------------------------------------
    def add_rater(self) -> tuple[str, str]:
        """A new rater: (id, secret token). Only the token's sha256 is stored."""
        token = secrets.token_urlsafe(24)
        with self._connect() as db:
            while True:
                rater = "r-" + secrets.token_hex(4)
                try:
                    db.execute("INSERT INTO raters VALUES (?, ?, ?)", (rater, _hash(token), _now()))
                    return rater, token
                except sqlite3.IntegrityError:  # an id collision: draw again
                    continue

    def rater_for_token(self, token: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT id FROM raters WHERE token_sha256 = ?", (_hash(token),)).fetchone()
        return row[0] if row else None

    # ----- ratings -------------------------------------------------------------------------------
    def rated_prompts(self, rater: str) -> set[str]:
        with self._connect() as db:
            return {r[0] for r in db.execute("SELECT DISTINCT prompt FROM ratings WHERE rater = ?", (rater,))}

    def submit_page(self, rater: str, prompt: str, ratings: Sequence[RatingIn], page_version: str) -> str:
        """Store one page's ratings atomically; ``"saved"``, or ``"already saved"`` for the same page again.

        Raises:
            InputError: a score out of range, an empty page or a clip twice.
            RatingConflict: the page was saved before with other scores.
        """
        if not ratings:
            raise InputError("ratings: a page needs at least one rating")
        clips = [r.clip for r in ratings]
        if len(set(clips)) != len(clips):
            raise InputError("ratings: a clip is rated twice on one page")
        for r in ratings:
            check_score("relevance", r.relevance)
            check_score("quality", r.quality)
        new = {(r.clip, r.condition, r.relevance, r.quality) for r in ratings}
        now = _now()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: the check and the insert see the same rows
            try:
                old = {tuple(row) for row in db.execute(
                    "SELECT clip, condition, relevance, quality FROM ratings WHERE rater = ? AND prompt = ?",
                    (rater, prompt))}
                if old:
                    if old == new:
                        db.execute("ROLLBACK")
                        return "already saved"
                    raise RatingConflict(f"page {prompt} was already saved by rater {rater} with other scores; "
                                         "ratings are final")
                db.executemany("INSERT INTO ratings (rater, prompt, clip, condition, relevance, quality, created, "
                               "page_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               [(rater, prompt, r.clip, r.condition, r.relevance, r.quality, now, page_version)
                                for r in ratings])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return "saved"

    def ratings(self) -> list[Rating]:
        """Every stored rating, ordered by rater, prompt and clip."""
        with self._connect() as db:
            rows = db.execute("SELECT rater, prompt, clip, condition, relevance, quality, created, page_version "
                              "FROM ratings ORDER BY rater, prompt, clip").fetchall()
        return [Rating(*r) for r in rows]

    def raters(self) -> list[str]:
        with self._connect() as db:
            return [r[0] for r in db.execute("SELECT id FROM raters ORDER BY id")]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
