"""SPICE is reported unavailable, with the reason, whenever its Java pieces are missing."""

import pytest

from vividsound.eval import spice as S


def test_no_java_means_unavailable(monkeypatch):
    monkeypatch.setattr(S.shutil, "which", lambda name: None)
    a = S.spice_availability()
    assert not a.available and "java" in a.reason
    with pytest.raises(S.SpiceUnavailable, match="java"):
        S.spice(["a dog barks"], [["a dog barks"]])


def test_missing_corenlp_jars_named(tmp_path, monkeypatch):
    monkeypatch.setattr(S.shutil, "which", lambda name: "/usr/bin/java")
    (tmp_path / "lib").mkdir()
    (tmp_path / "spice-1.0.jar").write_bytes(b"")
    a = S.spice_availability(tmp_path)
    assert not a.available
    assert "stanford-corenlp-3.6.0.jar" in a.reason and "models" in a.reason
    (tmp_path / "spice-1.0.jar").unlink()
    assert "spice-1.0.jar not found" in S.spice_availability(tmp_path).reason


def test_all_pieces_present_is_available(tmp_path, monkeypatch):
    monkeypatch.setattr(S.shutil, "which", lambda name: "/usr/bin/java")
    (tmp_path / "lib").mkdir()
    for name in ("spice-1.0.jar", "lib/stanford-corenlp-3.6.0.jar", "lib/stanford-corenlp-3.6.0-models.jar"):
        (tmp_path / name).write_bytes(b"")
    a = S.spice_availability(tmp_path)
    assert a.available and a.reason == "" and a.jar == tmp_path / "spice-1.0.jar"


@pytest.mark.slow
def test_real_spice_when_available():
    if not S.spice_availability().available:
        pytest.skip(S.spice_availability().reason)
    score, per = S.spice(["a dog barks loudly", "a car drives by"], [["a dog barks"], ["rain falls on a roof"]])
    assert per[0] > per[1] and 0 <= score <= 1
