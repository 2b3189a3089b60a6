import json
import subprocess
import sys

import pytest

from vividsound.audio import load_audio, read_audio_metadata
from vividsound.cli import main


def test_generate_writes_audio_with_metadata(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "dog.wav"
    rc = main(["generate", "a dog barks", "-o", str(out), "--model", str(tiny_model_dir), "--duration", "0.5",
               "--seed", "4", "--top-k", "10", "--plot", str(tmp_path / "dog.png")])
    assert rc == 0
    assert len(load_audio(out)) == round(0.5 * 22050)
    meta = read_audio_metadata(out)
    assert meta["prompt"] == "a dog barks" and meta["seed"] == 4 and meta["top_k"] == 10
    assert meta["model"] == "tiny-random"
    assert (tmp_path / "dog.png").stat().st_size > 1000
    assert str(out) in capsys.readouterr().out


def test_generate_many_prompts_and_flac(tiny_model_dir, tmp_path):
    pf = tmp_path / "prompts.txt"
    pf.write_text("rain\n\nthunder\n")
    rc = main(["generate", "wind", "--prompts-file", str(pf), "-o", str(tmp_path / "x"), "--format", "flac",
               "--model", str(tiny_model_dir), "--duration", "0.2", "--num-samples", "2"])
    assert rc == 0
    files = sorted(p.name for p in tmp_path.glob("x_*.flac"))
    assert files == [f"x_{i}.flac" for i in range(6)]
    assert read_audio_metadata(tmp_path / "x_3.flac")["prompt"] == "rain"


def test_info(tiny_model_dir, capsys):
    assert main(["info", "--model", str(tiny_model_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["components"]["gpt"]["parameters"] > 0 and info["mel"]["n_mels"] == 80
    assert main(["info", "--model", str(tiny_model_dir)]) == 0
    assert "ConditionalGPT" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["generate", "", "-o", "{tmp}/a.wav"], "empty"),
    (["generate", "x", "-o", "{tmp}/a.mp3"], "writes wav or flac"),  # a missing folder is created instead
    (["generate", "x", "-o", "{tmp}/a.wav", "--duration", "-1"], "duration"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--top-k", "0"], "top_k"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--top-p", "2"], "top_p"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--temperature", "0"], "temperature"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--vocoder", "wavenet"], "invalid choice"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--vocoder", "melgan"], "MelGAN"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--duration", "abc"], "invalid float"),
    (["generate", "-o", "{tmp}/a.wav"], "at least one PROMPT"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--prompts-file", "{tmp}/none.txt"], "not found"),
    (["generate", "x", "-o", "{tmp}/a.wav", "--model", "{tmp}/nomodel"], "model folder not found"),
    (["bogus"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(tiny_model_dir, tmp_path, capsys, args, match):
    args = [a.format(tmp=tmp_path) for a in args]
    if "--model" not in args and args[0] == "generate":
        args += ["--model", str(tiny_model_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.glob("*.wav"))


def test_python_dash_m_runs():
    r = subprocess.run([sys.executable, "-m", "vividsound", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "vividsound" in r.stdout


def test_import_is_light():
    code = ("import sys, vividsound; from vividsound import cli; "
            "bad = [m for m in ('transformers', 'fastapi', 'matplotlib', 'uvicorn') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("device, extra, want", [("cpu", [], False), ("cuda", [], True), ("cuda:1", [], True),
                                                 ("cuda", ["--no-cuda-graphs"], False)])
def test_generate_uses_cuda_graphs_on_a_gpu(tiny_model_dir, tmp_path, monkeypatch, device, extra, want):
    """The CUDA-graph token loop is the default on a CUDA device (the pipeline is loaded on the CPU here:
    only the option that reaches from_pretrained is checked)."""
    from vividsound.pipeline import TextToSound

    seen = {}
    real = TextToSound.from_pretrained.__func__

    def spy(cls, path=None, **kw):
        seen.update(kw)
        return real(cls, path, **{**kw, "device": "cpu", "compile": False})

    monkeypatch.setattr(TextToSound, "from_pretrained", classmethod(spy))
    import vividsound.devices

    monkeypatch.setattr(vividsound.devices, "check_device", str)  # this machine may have no GPU: accept the name
    rc = main(["generate", "rain", "-o", str(tmp_path / "r.wav"), "--model", str(tiny_model_dir), "--duration", "0.2",
               "--device", device, *extra])
    assert rc == 0 and seen["compile"] is want and seen["device"] == device


def test_a_subcommand_that_cannot_be_imported_says_so(monkeypatch, capsys):
    # A missing optional dependency (or a broken module) must neither hide the subcommand nor break the
    # others: it is listed as unavailable and running it names the import failure.
    import vividsound.cli as cli

    monkeypatch.setitem(cli.SUBCOMMANDS, "broken", ("vividsound.no_such_module", "a subcommand whose module is gone"))
    monkeypatch.setitem(cli.SUBCOMMANDS, "needs-dep", ("no_such_dependency_xyz", "a subcommand whose dependency is gone"))
    assert cli.main(["broken", "--anything", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'broken' is unavailable" in err and "vividsound.no_such_module" in err
    assert cli.main(["needs-dep"]) == 2
    assert "pip install no_such_dependency_xyz" in capsys.readouterr().err
    help_text = cli.build_parser().format_help()
    assert "broken" in help_text and "unavailable" in help_text
