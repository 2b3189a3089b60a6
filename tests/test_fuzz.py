"""Fuzzing the command line, the Python API and model folders (Hypothesis; seeded, bounded in examples).

Whatever the input, the answer is either success with every output written, or exit 2 with one line on
stderr (CLI) / an ``InputError``, ``AudioError`` or ``CheckpointError`` (Python) with nothing written:
never a traceback, never a partial set of files, never a temporary file left behind.
``VIVIDSOUND_FUZZ_EXAMPLES`` raises the number of examples (the default keeps the suite fast).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vividsound.audio import AudioError  # noqa: E402
from vividsound.cli import main  # noqa: E402
from vividsound.errors import InputError, VividsoundError  # noqa: E402
from vividsound.pipeline import AudioOutput, TextToSound  # noqa: E402

EXAMPLES = int(os.environ.get("VIVIDSOUND_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Text that exercises the prompt checks: normal words, blanks, control characters, lone surrogates (bytes
# that were not UTF-8 on a command line), very long strings.
prompt_text = st.one_of(
    st.sampled_from(["a dog barks", "rain", "  ", "", "\x00", "caf\u00e9 \u266a", "\udcff bytes", "x" * 1200]),
    st.text(max_size=30))
numbers = st.one_of(st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e-9", "0.05", "0.1", "1e300", "abc", "",
                                     "5", "2", "0.5", "1.0"]),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
ints = st.one_of(st.sampled_from(["0", "1", "2", "3", "-1", "8", str(2**63), str(2**63 - 1), "1.5", "x", ""]),
                 st.integers(-5, 70).map(str))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def fast_loading(monkeypatch, tiny_model_dir, tiny_tts):
    """Reuse the session's loaded tiny pipeline for the pristine tiny model (loading it 25 times would
    dominate the run); any other folder goes through the real loader."""
    real = TextToSound.from_pretrained.__func__

    def from_pretrained(cls, path=None, **kw):
        if path is not None and Path(path) == tiny_model_dir and kw.get("quantize") is None \
                and kw.get("vocoder") is None:
            return tiny_tts
        return real(cls, path, **kw)

    monkeypatch.setattr(TextToSound, "from_pretrained", classmethod(from_pretrained))


def opt(valid, invalid, absent: int = 6, good: int = 2):
    """None (option absent) most often, else a valid or an invalid value: so that whole command lines are
    often valid (the success path and its all-or-none writing get exercised) and often not."""
    return st.integers(0, 9).flatmap(lambda r: st.none() if r < absent else (valid if r < absent + good else invalid))


@FUZZ
@given(prompts=st.one_of(st.lists(st.sampled_from(["a dog barks", "rain", "wind"]), min_size=1, max_size=2),
                         st.lists(prompt_text, max_size=3)),
       duration=opt(st.sampled_from(["0.05", "0.1", "0.01"]), numbers, absent=0, good=6),
       top_k=opt(st.sampled_from(["1", "10", "64"]), ints), top_p=opt(st.sampled_from(["0.5", "1"]), numbers),
       temperature=opt(st.sampled_from(["0.7", "1.5"]), numbers), seed=opt(st.sampled_from(["0", "7", str(2**40)]), ints),
       num_samples=opt(st.sampled_from(["1", "2", "3"]), st.sampled_from(["0", "65", "x", "-1"])),
       output=st.one_of(st.sampled_from(["out.wav", "sub/dir/out.flac", "out", "out.WAV", "\u00e9t\u00e9.wav"]),
                        st.sampled_from(["", ".", "out.mp3", "EXISTING", "EXISTING/", "afile/out.wav"])),
       plot=opt(st.sampled_from(["p.png", "plots/p.svg"]), st.sampled_from(["p.xyz", "", "afile/p.png", "EXISTING"])),
       device=st.sampled_from(["cpu", "cpu", "cpu", "cpu", "bogus", "cuda:99", ""]),
       threads=opt(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-3", "x", "100000"])),
       fmt=opt(st.sampled_from(["wav", "flac"]), st.sampled_from(["mp3"]), absent=7))
def test_fuzz_cli_generate(tmp_path_factory, tiny_model_dir, fast_loading, capsys, prompts, duration, top_k, top_p,
                           temperature, seed, num_samples, output, plot, device, threads, fmt):
    work = tmp_path_factory.mktemp("fuzz")
    (work / "EXISTING").mkdir()
    (work / "afile").write_text("x")
    before = _files(work)
    argv = ["generate", *prompts, "--model", str(tiny_model_dir), "-o", str(work / output) if output else "",
            "--device", device, "--quiet"]
    for flag, value in (("--duration", duration), ("--top-k", top_k), ("--top-p", top_p),
                        ("--temperature", temperature), ("--seed", seed), ("--num-samples", num_samples),
                        ("--threads", threads), ("--format", fmt)):
        if value is not None:
            argv += [flag, value]
    if plot is not None:
        argv += ["--plot", str(work / plot) if plot else ""]
    capsys.readouterr()
    try:
        rc = main(argv)
    finally:
        torch.set_num_threads(1)
    err = capsys.readouterr()
    after = _files(work)
    assert not [f for f in after if ".tmp-" in f or ".write-test-" in f], after  # no temp file left
    hypothesis.event(f"exit {rc}")
    if rc == 0:
        written = [Path(line) for line in err.out.split("\n") if line.strip()]
        assert written and all(p.is_file() for p in written)
        assert plot is None or (work / plot).is_file()
    else:
        assert rc == 2, (argv, err.err)
        lines = err.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vividsound: error: "), (argv, err.err)
        assert after == before, (argv, after - before)  # nothing written on failure


arg_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**64), st.floats(allow_nan=True),
                       st.text(max_size=5), st.lists(st.integers(), max_size=2))


@FUZZ
@given(prompts=st.one_of(st.sampled_from(["a bell", ["rain", "wind"]]), prompt_text, st.lists(prompt_text, max_size=3),
                         st.integers(), st.none(), st.lists(st.integers(), max_size=2)),
       duration=opt(st.sampled_from([0.05, 0.1, 0.01]), st.one_of(st.sampled_from([0.009, -1.0, 1e9]), arg_values),
                    absent=0, good=6),
       top_k=opt(st.sampled_from([1, 10, 64]), arg_values), top_p=opt(st.sampled_from([0.5, 1.0]), arg_values),
       temperature=opt(st.sampled_from([0.5, 1.0, 2.0]), arg_values),
       cfg_scale=opt(st.sampled_from([0.0, 1.0, 3.0]), arg_values),
       seed=opt(st.integers(0, 2**63 - 1), arg_values),
       num_samples=opt(st.sampled_from([1, 2]), arg_values, absent=0, good=8).map(lambda v: 1 if v is None else v),
       batch_size=opt(st.sampled_from([1, 4]), arg_values, absent=0, good=8).map(lambda v: 8 if v is None else v),
       save_as=st.sampled_from(["a.wav", "deep/er/a.flac", "a.wav", "a.mp3", "", "EXISTING", "afile/a.wav"]))
def test_fuzz_python_api(tiny_tts, tmp_path_factory, prompts, duration, top_k, top_p, temperature, cfg_scale, seed,
                         num_samples, batch_size, save_as):
    work = tmp_path_factory.mktemp("api")
    (work / "EXISTING").mkdir()
    (work / "afile").write_text("x")
    before = _files(work)
    if isinstance(duration, (int, float)) and not isinstance(duration, bool) and duration > 0.2:
        duration = 0.2 if duration < 1e8 else duration  # keep valid runs short; keep the huge ones
    try:
        out = tiny_tts(prompts, duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                       cfg_scale=cfg_scale, seed=seed, num_samples=num_samples, batch_size=batch_size)
    except InputError as e:
        assert "\n" not in str(e)
        hypothesis.event("refused: InputError")
        return
    hypothesis.event("generated")
    assert isinstance(out, AudioOutput) and len(out) == len(out.prompts) == len(out.seeds)
    assert out.waveform.shape[1] == round(out.settings["duration"] * out.sample_rate) > 0
    assert bool(torch.isfinite(out.waveform).all())
    try:
        paths = out.save(work / save_as if save_as else "")
    except (AudioError, InputError) as e:
        assert "\n" not in str(e)
        assert _files(work) == before
        return
    assert all(p.is_file() for p in paths) and len(paths) == len(out)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False),
                                     st.text(max_size=6)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


def _paths(obj, prefix=()):
    """Every (key path) inside a JSON object, to pick one to break."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


@FUZZ
@given(data=st.data())
def test_fuzz_broken_model_folders(tiny_model_dir, tmp_path_factory, data):
    """A random field of pipeline.json or of a component's config.json replaced by random JSON (or the
    file cut short): loading either works or is one CheckpointError line."""
    model = tmp_path_factory.mktemp("model") / "m"
    shutil.copytree(tiny_model_dir, model)
    target = data.draw(st.sampled_from(["pipeline.json", "gpt/config.json", "vqgan/config.json",
                                        "vocoder/config.json", "text_encoder/config.json"]))
    path = model / target
    doc = json.loads(path.read_text())
    how = data.draw(st.sampled_from(["replace", "replace", "replace", "truncate", "delete"]))
    if how == "truncate":
        text = path.read_text()
        path.write_text(text[: data.draw(st.integers(0, len(text) - 1))])
    else:
        keys = data.draw(st.sampled_from(sorted(_paths(doc), key=str)))
        node = doc
        for k in keys[:-1]:
            node = node[k]
        if how == "delete":
            del node[keys[-1]]
        else:
            node[keys[-1]] = data.draw(json_values)
        path.write_text(json.dumps(doc))
    try:
        tts = TextToSound.from_pretrained(model)
    except VividsoundError as e:  # CheckpointError mostly; a ConfigError for a mel config that disagrees
        assert "\n" not in str(e)
        hypothesis.event(f"refused: {type(e).__name__}")
        return
    hypothesis.event("loaded")
    try:
        out = tts("a bell", duration=0.05)  # what loads must also run (or refuse in one line)
    except VividsoundError as e:
        assert "\n" not in str(e)
        return
    assert math.isfinite(float(out.waveform.abs().max()))
