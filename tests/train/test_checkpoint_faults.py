"""The checkpoint writer killed at every step of a save: ``--resume`` always finds the last complete checkpoint.

A forked child saves the step-4 checkpoint over the step-2 one with ``atomic_write_dir`` (what
``Stage.save_checkpoint`` calls) and is SIGKILLed just before its k-th file-system step (each file
written, each fsync, each rename, the deletion of the old folder), for every k. The parent then resumes
exactly as ``vividsound train --resume`` does (``Stage.load_checkpoint``) and checks that it loaded a
complete checkpoint, byte for byte the step-2 or the step-4 one, the step-4 one as soon as the new folder
was marked complete, with no leftover ``.last.*`` folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
import torch

from train_helpers import TINY_CNN, tiny_overrides
from vividsound import checkpoint
from vividsound.checkpoint import atomic_write_dir, load_component
from vividsound.train import load_stage_config, stage_class, train
from vividsound.train.loop import init_dist

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _copying_writer(source: Path, step):
    """A ``write(tmp)`` that recreates ``source`` file by file, calling ``step`` before each file."""
    def write(tmp: Path) -> None:
        for p in sorted(source.rglob("*")):
            rel = p.relative_to(source)
            if p.is_dir():
                (tmp / rel).mkdir(parents=True, exist_ok=True)
            else:
                step(f"write {rel}")
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, tmp / rel)
    return write


def _instrument(step) -> None:
    """Route the file-system calls atomic_write_dir makes through ``step`` (in the forked child only)."""
    for mod, name in ((os, "replace"), (os, "fsync"), (shutil, "rmtree"), (tempfile, "mkdtemp")):
        real = getattr(mod, name)

        def wrapped(*a, _real=real, _name=name, **kw):
            step(_name)
            return _real(*a, **kw)

        setattr(mod, name, wrapped)


def _save_in_child(final: Path, source: Path, kill_at: int | None) -> tuple[bool, list[str]]:
    """Fork; the child saves ``source`` as ``final`` and is SIGKILLed before step ``kill_at`` (1-based).

    Returns (killed, the step names the child reached) read back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery, no torch work, only file-system calls
        os.close(r)
        count = [0]

        def step(name: str) -> None:
            count[0] += 1
            os.write(w, (name + "\n").encode())
            if kill_at is not None and count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            _instrument(step)
            atomic_write_dir(final, _copying_writer(source, step))
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    steps = [s for s in b"".join(chunks).decode().split("\n") if s]
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if not killed:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child failed (status {status})"
    return killed, steps


def test_kill_at_every_step_of_a_save_resume_finds_last_complete(corpus, tmp_path):
    o = tiny_overrides(corpus, tmp_path / "c") + TINY_CNN + ["train.steps=6", "train.ckpt_every=2"]
    train("tagger", None, tmp_path / "full", overrides=o)
    train("tagger", None, tmp_path / "at2", overrides=o + ["train.stop_after=2"])
    train("tagger", None, tmp_path / "at4", overrides=o + ["train.stop_after=4"])
    v2 = tmp_path / "at2" / "checkpoints" / "last"
    v4 = tmp_path / "at4" / "checkpoints" / "last"
    snap2, snap4 = _snapshot(v2), _snapshot(v4)
    assert snap2 != snap4

    # The steps of one uninterrupted save (counted in a child that is not killed).
    scratch = tmp_path / "scratch"
    shutil.copytree(tmp_path / "at2", scratch)
    killed, steps = _save_in_child(scratch / "checkpoints" / "last", v4, None)
    assert not killed and _snapshot(scratch / "checkpoints" / "last") == snap4
    names = set(steps)
    assert {"mkdtemp", "replace", "fsync", "rmtree"} <= names and any(s.startswith("write ") for s in steps), steps
    n_replace = steps.count("replace")
    assert n_replace == 3, steps  # tmp -> .new, last -> .old, .new -> last
    marked = [i for i, s in enumerate(steps, 1) if s == "replace"][0]  # the step that marks .new complete

    cfg = load_stage_config("tagger", None, o)
    seen = {2: 0, 4: 0}
    for k in range(1, len(steps) + 1):
        run = tmp_path / f"run{k}"
        shutil.copytree(tmp_path / "at2", run)
        last = run / "checkpoints" / "last"
        killed, reached = _save_in_child(last, v4, k)
        assert killed and len(reached) == k
        # --resume: Stage.load_checkpoint (recovers first, then loads strictly)
        stage = stage_class("tagger")(cfg, run, init_dist("cpu"))
        stage.setup()
        stage.load_checkpoint()
        expect = 4 if k > marked else 2
        assert stage.step == expect, f"killed before step {k} ({steps[k - 1]}): resumed at {stage.step}"
        assert _snapshot(last) == (snap4 if expect == 4 else snap2), f"kill at step {k}: not a complete checkpoint"
        leftovers = [p.name for p in last.parent.iterdir() if p.name != "last"]
        assert leftovers == [], f"kill at step {k} ({steps[k - 1]}) left {leftovers}"
        seen[expect] += 1
    assert seen[2] and seen[4]  # kills on both sides of the commit point were exercised


def test_resume_after_a_kill_between_the_renames_is_exact(corpus, tmp_path):
    """The case of issue 26 (2): killed after ``last`` became ``.last.old-*`` and before the new folder
    took its place. ``train --resume`` must find a checkpoint and end bit-identical to an unbroken run."""
    o = tiny_overrides(corpus, tmp_path / "c") + TINY_CNN + ["train.steps=6", "train.ckpt_every=2"]
    train("tagger", None, tmp_path / "full", overrides=o)
    train("tagger", None, tmp_path / "part", overrides=o + ["train.stop_after=2"])
    train("tagger", None, tmp_path / "at4", overrides=o + ["train.stop_after=4"])
    last = tmp_path / "part" / "checkpoints" / "last"
    _, steps = _save_in_child(tmp_path / "probe", tmp_path / "at4" / "checkpoints" / "last", None)
    second_rename = [i for i, s in enumerate(steps, 1) if s == "replace"][1] + 1  # before the third rename
    shutil.rmtree(tmp_path / "probe")
    killed, _ = _save_in_child(last, tmp_path / "at4" / "checkpoints" / "last", second_rename)
    assert killed
    assert not last.exists()  # the state the old writer could not recover from
    assert [p.name.split("-")[0] for p in sorted(last.parent.iterdir())] == [".last.new", ".last.old"]
    train("tagger", None, tmp_path / "part", overrides=o, resume=True)
    a = load_component(tmp_path / "full" / "checkpoints" / "last" / "tagger").state_dict()
    b = load_component(last / "tagger").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in last.parent.iterdir()) == ["last"]


def test_old_writer_leftovers_are_cleaned_and_temp_files_never_replace(tmp_path):
    """Leftover ``.tmp-*`` (incomplete) folders are deleted, never promoted; a complete ``last`` wins."""
    final = tmp_path / "last"
    atomic_write_dir(final, lambda t: (t / "a.txt").write_text("one"))
    (tmp_path / ".last.tmp-dead").mkdir()
    (tmp_path / ".last.tmp-dead" / "a.txt").write_text("half")
    (tmp_path / ".last.old-123").mkdir()
    assert checkpoint.recover_dir(final) == final
    assert (final / "a.txt").read_text() == "one" and sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    shutil.rmtree(final)
    (tmp_path / ".last.tmp-dead").mkdir()
    assert checkpoint.recover_dir(final) is None and not any(tmp_path.iterdir())
