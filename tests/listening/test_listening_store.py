"""The SQLite ratings store: one row per rating, WAL, idempotent pages, no flooding, checked scores."""

from __future__ import annotations

import sqlite3

import pytest

from vividsound.errors import InputError
from vividsound.listening.store import RatingConflict, RatingIn, RatingStore


def _page(*scores: tuple[int, int]) -> list[RatingIn]:
    return [RatingIn(f"clip{k}", f"cond{k}", rel, q) for k, (rel, q) in enumerate(scores)]


def test_store_is_wal_and_writes_one_row_per_rating(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", "test-1")
    rater, token = store.add_rater()
    assert store.rater_for_token(token) == rater and store.rater_for_token(token + "x") is None
    assert store.submit_page(rater, "p001", _page((3, 4), (10, 0)), "1") == "saved"
    rows = store.ratings()
    assert [(r.rater, r.prompt, r.clip, r.condition, r.relevance, r.quality, r.page_version) for r in rows] == [
        (rater, "p001", "clip0", "cond0", 3, 4, "1"), (rater, "p001", "clip1", "cond1", 10, 0, "1")]
    assert rows[0].created.endswith("+00:00") and "T" in rows[0].created
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # Only the token's hash is stored.
        assert token not in {r[0] for r in db.execute("SELECT token_sha256 FROM raters")}
    assert store.rated_prompts(rater) == {"p001"}


def test_same_page_again_is_idempotent_and_other_scores_conflict(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", "t")
    rater, _ = store.add_rater()
    page = _page((5, 5), (6, 7))
    assert store.submit_page(rater, "p001", page, "1") == "saved"
    assert store.submit_page(rater, "p001", list(reversed(page)), "1") == "already saved"
    with pytest.raises(RatingConflict, match="already saved.*final"):
        store.submit_page(rater, "p001", _page((5, 5), (6, 8)), "1")
    with pytest.raises(RatingConflict):
        store.submit_page(rater, "p001", _page((5, 5)), "1")  # a subset is another answer too
    assert len(store.ratings()) == 2  # never doubled, never changed
    assert {(r.relevance, r.quality) for r in store.ratings()} == {(5, 5), (6, 7)}
    # Another rater rating the same page is not a conflict: their own rows.
    other, _ = store.add_rater()
    assert store.submit_page(other, "p001", _page((0, 0), (1, 1)), "1") == "saved"
    assert len(store.ratings()) == 4


def test_database_refuses_a_second_rating_of_one_clip_and_bad_scores(tmp_path):
    """The constraints hold even for writes that bypass the store's checks."""
    store = RatingStore(tmp_path / "r.sqlite", "t")
    rater, _ = store.add_rater()
    store.submit_page(rater, "p001", _page((5, 5)), "1")
    with sqlite3.connect(tmp_path / "r.sqlite", isolation_level=None) as db:
        db.execute("PRAGMA foreign_keys=ON")  # per connection, as the store sets it
        insert = ("INSERT INTO ratings (rater, prompt, clip, condition, relevance, quality, created, page_version) "
                  "VALUES (?, ?, ?, ?, ?, ?, 'now', '1')")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            db.execute(insert, (rater, "p002", "clip0", "cond0", 1, 1))
        for rel, q in ((11, 5), (-1, 5), (5, 11), (5.5, 5)):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                db.execute(insert, (rater, "p003", "clipX", "c", rel, q))
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            db.execute(insert, ("r-nobody", "p004", "clipY", "c", 1, 1))


@pytest.mark.parametrize("scores, match", [((11, 5), "relevance is 11; allowed: an integer 0..10"),
                                           ((5, -1), "quality is -1"), ((True, 5), "relevance is True"),
                                           ((5.0, 5), "relevance is 5.0")])
def test_out_of_range_scores_are_refused_with_one_line(tmp_path, scores, match):
    store = RatingStore(tmp_path / "r.sqlite", "t")
    rater, _ = store.add_rater()
    with pytest.raises(InputError, match=match):
        store.submit_page(rater, "p001", _page((3, 3), scores), "1")
    assert store.ratings() == []  # nothing half-written


def test_empty_page_and_a_clip_twice_are_refused(tmp_path):
    store = RatingStore(tmp_path / "r.sqlite", "t")
    rater, _ = store.add_rater()
    with pytest.raises(InputError, match="at least one"):
        store.submit_page(rater, "p001", [], "1")
    with pytest.raises(InputError, match="twice"):
        store.submit_page(rater, "p001", [RatingIn("c", "x", 1, 1), RatingIn("c", "x", 1, 1)], "1")


def test_store_of_another_test_or_schema_is_refused(tmp_path):
    RatingStore(tmp_path / "r.sqlite", "test-A").add_rater()
    with pytest.raises(InputError, match="ratings of another test"):
        RatingStore(tmp_path / "r.sqlite", "test-B")
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match="schema version '99'"):
        RatingStore(tmp_path / "r.sqlite", "test-A")
    with pytest.raises(InputError, match="no ratings yet"):
        RatingStore(tmp_path / "none.sqlite", "x", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def test_ratings_survive_reopening_the_file(tmp_path):
    """A committed page is in the file for a new connection (the server's restart)."""
    store = RatingStore(tmp_path / "r.sqlite", "t")
    rater, token = store.add_rater()
    store.submit_page(rater, "p001", _page((1, 2)), "1")
    again = RatingStore(tmp_path / "r.sqlite", "t")
    assert again.rater_for_token(token) == rater
    assert [(r.clip, r.relevance, r.quality) for r in again.ratings()] == [("clip0", 1, 2)]
