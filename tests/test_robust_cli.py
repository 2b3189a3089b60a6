"""Issue 26, the command line and the Python API: one line and exit 2 for every bad input, checked
before the model loads and before anything is written; outputs all or none; missing folders created."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vividsound.audio import AudioError
from vividsound.cli import main
from vividsound.errors import CheckpointError, InputError
from vividsound.pipeline import TextToSound


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("vividsound: error: ") and "\n" not in err, err
    return err


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fail loudly if a case gets as far as loading the model: it must be refused before."""
    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(TextToSound, "from_pretrained", classmethod(lambda cls, *a, **k: refuse()))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


BAD_GENERATE = [
    (["-o", ""], "-o/--output is empty"),
    (["-o", "{tmp}/x.mp3"], "writes wav or flac"),
    (["-o", "{tmp}/x.wav", "--format", "flac"], "but --format is flac"),
    (["-o", "{tmp}/x.wav", "--plot", "{tmp}/x.xyz"], "--plot"),
    (["-o", "{tmp}/x.wav", "--plot", "{tmp}/afile/x.png"], "--plot: cannot write"),
    (["-o", "{tmp}/afile/x.wav"], "-o/--output: cannot write"),
    (["-o", "{tmp}/x.wav", "--duration", "200"], "duration is 200.0"),
    (["-o", "{tmp}/x.wav", "--duration", "1e-9"], "duration is 1e-09"),
    (["-o", "{tmp}/x.wav", "--duration", "nan"], "duration must be finite"),
    (["-o", "{tmp}/x.wav", "--top-k", "0"], "top_k is 0"),
    (["-o", "{tmp}/x.wav", "--temperature", "-1"], "temperature is -1.0"),
    (["-o", "{tmp}/x.wav", "--num-samples", "0"], "num_samples is 0"),
    (["-o", "{tmp}/x.wav", "--seed", str(2**63)], "seed is 9223372036854775808"),
    (["-o", "{tmp}/x.wav", "--seed", str(2**63 - 1), "--num-samples", "2"], "exceeds the largest seed"),
    (["-o", "{tmp}/x.wav", "--seed", "-1"], "seed is -1"),
    (["-o", "{tmp}/x.wav", "--device", "bogus"], "device 'bogus' is not a torch device"),
    (["-o", "{tmp}/x.wav", "--threads", "0"], "threads is 0"),
]


@pytest.mark.parametrize("argv, needle", BAD_GENERATE, ids=[n.split(":")[0][:40] for _, n in BAD_GENERATE])
def test_generate_refuses_bad_input_before_loading(argv, needle, tiny_model_dir, tmp_path, capsys, no_model_loading):
    (tmp_path / "afile").write_text("a file where a folder is expected")
    before = _files(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["generate", "a bell", "--model", str(tiny_model_dir), *argv]) == 2
    assert needle in _one_line_error(capsys)
    assert _files(tmp_path) == before  # nothing written, not even a temp file


def test_read_only_output_folders(tiny_model_dir, tmp_path, readonly_dir, capsys, no_model_loading):
    assert main(["generate", "a bell", "-o", str(readonly_dir / "x.wav"), "--model", str(tiny_model_dir)]) == 2
    assert "-o/--output: cannot write in" in _one_line_error(capsys)
    assert main(["generate", "a bell", "-o", str(tmp_path / "x.wav"), "--plot", str(readonly_dir / "x.png"),
                 "--model", str(tiny_model_dir)]) == 2
    assert "--plot: cannot write in" in _one_line_error(capsys)
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_build_is_one_line(tiny_model_dir, tmp_path, capsys, no_model_loading):
    assert main(["generate", "a bell", "-o", str(tmp_path / "x.wav"), "--model", str(tiny_model_dir),
                 "--device", "cuda"]) == 2
    assert "device 'cuda'" in _one_line_error(capsys)
    with pytest.raises(InputError, match="device 'cuda'"):
        TextToSound.to(object.__new__(TextToSound), "cuda")


def test_non_utf8_prompts(tiny_model_dir, tmp_path, capsys, no_model_loading):
    bad_arg = b"a dog \xff barks".decode("utf-8", "surrogateescape")  # how Python passes such argv bytes
    assert main(["generate", bad_arg, "-o", str(tmp_path / "x.wav"), "--model", str(tiny_model_dir)]) == 2
    assert "prompt 0 is not valid UTF-8" in _one_line_error(capsys)
    pf = tmp_path / "prompts.txt"
    pf.write_bytes("rain\ncaf\u00e9 noise\n".encode("latin-1"))
    assert main(["generate", "--prompts-file", str(pf), "-o", str(tmp_path / "x.wav"),
                 "--model", str(tiny_model_dir)]) == 2
    assert "line 2 is not UTF-8" in _one_line_error(capsys)
    assert not (tmp_path / "x.wav").exists()


def test_plot_without_matplotlib_is_refused_before_generating(tiny_model_dir, tmp_path, capsys, monkeypatch,
                                                              no_model_loading):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["generate", "a bell", "-o", str(tmp_path / "x.wav"), "--plot", str(tmp_path / "x.png"),
                 "--model", str(tiny_model_dir)]) == 2
    assert "--plot needs matplotlib" in _one_line_error(capsys)


def test_missing_output_folders_are_created(tiny_model_dir, tiny_tts, tmp_path):
    out = tmp_path / "batch" / "deeper" / "clip.wav"
    assert main(["generate", "a bell", "-o", str(out), "--model", str(tiny_model_dir), "--duration", "0.1",
                 "--plot", str(tmp_path / "plots" / "clip.png")]) == 0
    assert out.is_file() and (tmp_path / "plots" / "clip.png").is_file()
    res = tiny_tts("a bell", duration=0.1)
    assert res.save(tmp_path / "sounds" / "clip.wav") == [tmp_path / "sounds" / "clip.wav"]


def _fail_second_write(monkeypatch):
    """soundfile's writer raises ENOSPC on the second file, as a full disk does."""
    import soundfile as sf

    real, calls = sf.SoundFile.write, [0]

    def write(self, data):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)


def test_disk_full_writes_all_or_nothing_cli(tiny_model_dir, tmp_path, capsys, monkeypatch):
    _fail_second_write(monkeypatch)
    out = tmp_path / "o"
    assert main(["generate", "a bell", "-o", str(out / "clip.wav"), "--model", str(tiny_model_dir),
                 "--duration", "0.1", "--num-samples", "3"]) == 2
    err = _one_line_error(capsys)
    assert "No space left on device" in err and "nothing was written" in err
    assert _files(out) == []  # no clip_0.wav without the others, no temp files


def test_disk_full_on_a_real_tiny_filesystem(tiny_tts, tmp_path):
    """A real ENOSPC: a 24 KiB tmpfs holds one 0.2 s clip (8.9 kB) but not three (needs root to mount)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(mnt)],
                                                       capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the monkeypatched ENOSPC test covers the logic")
    try:
        res = tiny_tts("a bell", duration=0.2, num_samples=3)
        with pytest.raises(AudioError) as e:
            res.save(mnt / "clip.wav")
        assert "No space left" in str(e.value) and "\n" not in str(e.value)
        assert _files(mnt) == []
        single = tiny_tts("a bell", duration=0.2)
        assert single.save(mnt / "one.wav") == [mnt / "one.wav"]  # the same disk still takes one clip
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _broken_model(tiny_model_dir: Path, tmp_path: Path, edit) -> Path:
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    edit(model)
    return model


def _edit_json(path: Path, change) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


BROKEN_MODELS = {
    "components-null": (lambda m: _edit_json(m / "pipeline.json", lambda d: d.update(components=None)), "components is null"),
    "component-number": (lambda m: _edit_json(m / "pipeline.json", lambda d: d["components"].update(gpt=5)),
                         "components.gpt is 5"),
    "components-number": (lambda m: _edit_json(m / "pipeline.json", lambda d: d.update(components=7)), "components is 7"),
    "defaults-types": (lambda m: _edit_json(m / "pipeline.json", lambda d: d.update(defaults={"top_k": "many"})),
                       "defaults.top_k"),
    "defaults-list": (lambda m: _edit_json(m / "pipeline.json", lambda d: d.update(defaults=[1])), "defaults is [1]"),
    "defaults-duration": (lambda m: _edit_json(m / "pipeline.json", lambda d: d.update(defaults={"duration": -1})),
                          "defaults.duration"),
    "huge-n-embd": (lambda m: _edit_json(m / "gpt" / "config.json", lambda d: d["config"].update(n_embd=320000)),
                    "n_embd is 320000"),
    "negative-width": (lambda m: _edit_json(m / "vqgan" / "config.json", lambda d: d["config"].update(ch=-8)),
                       "ch is -8"),
    "truncated-weights": (lambda m: (m / "gpt" / "model.safetensors").write_bytes(
        (m / "gpt" / "model.safetensors").read_bytes()[:1000]), "truncated or corrupt"),
}


@pytest.mark.parametrize("case", list(BROKEN_MODELS))
def test_broken_model_folders_are_one_line(case, tiny_model_dir, tmp_path, capsys):
    edit, needle = BROKEN_MODELS[case]
    model = _broken_model(tiny_model_dir, tmp_path, edit)
    with pytest.raises(CheckpointError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        TextToSound.from_pretrained(model)
    out = tmp_path / "x.wav"
    assert main(["generate", "a bell", "-o", str(out), "--model", str(model), "--duration", "0.1"]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    assert not out.exists()


def test_too_big_model_is_refused_before_allocating(tiny_model_dir, tmp_path):
    """Each size within its cap, the whole far too big: refused by count, naming the widest field."""
    import resource

    model = _broken_model(tiny_model_dir, tmp_path, lambda m: _edit_json(
        m / "gpt" / "config.json", lambda d: d["config"].update(n_embd=60000, n_head=2, n_layer=24)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"would hold .* GB.*n_embd=60000"):
        TextToSound.from_pretrained(model)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500, f"peak memory grew by {grown_mb:.0f} MB"


def test_nan_weights_are_refused(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    def poison(m: Path) -> None:
        f = m / "gpt" / "model.safetensors"
        state = load_file(str(f))
        state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(f))

    model = _broken_model(tiny_model_dir, tmp_path, poison)
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        TextToSound.from_pretrained(model)


def test_info_reads_no_weights_and_matches_the_loaded_model(tiny_model_dir, tiny_tts):
    """`vividsound info` reports what the loaded pipeline reports, without loading weights or transformers."""
    code = ("import json, sys; from vividsound.cli import main; main(['info', '--json', '--model', sys.argv[1]]); "
            "print(json.dumps(sorted(m for m in ('transformers', 'safetensors.torch') if m in sys.modules)))")
    src = Path(__file__).resolve().parents[1] / "src"
    r = subprocess.run([sys.executable, "-c", code, str(tiny_model_dir)], capture_output=True, text=True,
                       env={**__import__("os").environ, "PYTHONPATH": str(src)}, timeout=300)
    assert r.returncode == 0, r.stderr
    out, loaded = r.stdout.rsplit("\n", 2)[0], json.loads(r.stdout.strip().splitlines()[-1])
    assert loaded == []  # no text backbone, no weight reader
    info = json.loads(out)
    info.pop("size_bytes")
    assert info == json.loads(json.dumps(tiny_tts.info()))


def test_truncated_training_state_is_one_line(tmp_path):
    """A resume from a checkpoint whose state.pt was cut short names the file (not a raw OSError)."""
    from vividsound.train.loop import Stage, TrainingError

    last = tmp_path / "checkpoints" / "last"
    last.mkdir(parents=True)
    torch.save({"step": 3}, last / "state.pt")
    (last / "state.pt").write_bytes((last / "state.pt").read_bytes()[:20])
    stage = object.__new__(Stage)
    stage.run_dir = tmp_path
    stage.components = lambda: {}
    with pytest.raises(TrainingError, match=r"state.pt is truncated or corrupt") as e:
        stage.load_checkpoint()
    assert "\n" not in str(e.value)


def test_manifest_line_that_is_not_an_object(tmp_path):
    from vividsound.data.manifest import ManifestError, read_manifest

    for line, needle in (('[1, 2]', "expected a JSON object"), ('"text"', "expected a JSON object"),
                         ('{"id": "a", "audio": "a.wav", "captions": ["x"], "split": []}', "split"),
                         ('[' * 100000, "invalid JSON")):
        m = tmp_path / "m.jsonl"
        m.write_text(line + "\n")
        with pytest.raises(ManifestError, match=needle):
            read_manifest(m)
    m.write_bytes(b'{"id": "caf\xe9"}\n')
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(m)
