import json
import shutil

import pytest
import torch

from vividsound.audio import MelConfig
from vividsound.checkpoint import load_component, save_component
from vividsound.errors import CheckpointError
from vividsound.models.gpt import ConditionalGPT, GPTConfig
from vividsound.models.vocoders import GriffinLim, GriffinLimConfig
from vividsound.models.vqgan import VQGAN
from vividsound.pipeline import TextToSound
from vividsound.testing import tiny_vqgan_config


def _gpt():
    torch.manual_seed(0)
    return ConditionalGPT(GPTConfig(vocab_size=20, block_size=10, rows=5, cond_dim=8, cond_len=2, n_layer=1,
                                    n_head=2, n_embd=8)).eval()


def test_component_round_trip_is_exact(tmp_path):
    g = _gpt()
    save_component(g, tmp_path / "g")
    g2 = load_component(tmp_path / "g", "ConditionalGPT")
    toks = torch.randint(0, 20, (2, 6))
    c, m = torch.randn(2, 2, 8), torch.ones(2, 2, dtype=torch.bool)
    assert torch.equal(g(toks, c, m), g2(toks, c, m))
    meta = json.loads((tmp_path / "g" / "config.json").read_text())
    assert meta["format_version"] == 1 and meta["class"] == "ConditionalGPT" and "library_version" in meta


def test_pipeline_round_trip_gives_identical_audio(tiny_tts, tmp_path):
    a = tiny_tts("a horse gallops", duration=0.4, seed=5)
    tiny_tts.save_pretrained(tmp_path / "copy")
    b = TextToSound.from_pretrained(tmp_path / "copy")("a horse gallops", duration=0.4, seed=5)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.waveform, b.waveform)


def test_fp16_save_halves_weights(tmp_path):
    g = ConditionalGPT(GPTConfig(vocab_size=64, block_size=10, rows=5, cond_dim=8, cond_len=2, n_layer=2,
                                 n_head=2, n_embd=64))
    save_component(g, tmp_path / "a")
    save_component(g, tmp_path / "b", dtype=torch.float16)
    sa = (tmp_path / "a" / "model.safetensors").stat().st_size
    sb = (tmp_path / "b" / "model.safetensors").stat().st_size
    assert sb < 0.6 * sa
    g2 = load_component(tmp_path / "b")
    assert g2.head.weight.dtype == torch.float32


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_component(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_component(tmp_path / "empty")
    save_component(_gpt(), tmp_path / "g")
    (tmp_path / "g" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_component(tmp_path / "g")


def test_truncated_weights(tmp_path):
    save_component(_gpt(), tmp_path / "g")
    w = tmp_path / "g" / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_component(tmp_path / "g")


def test_wrong_shape_and_keys(tmp_path):
    save_component(_gpt(), tmp_path / "g")
    meta = json.loads((tmp_path / "g" / "config.json").read_text())
    meta["config"]["n_embd"] = 16
    (tmp_path / "g" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_component(tmp_path / "g")
    meta["config"]["n_embd"] = 8
    meta["config"]["n_layer"] = 2
    (tmp_path / "g" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="missing"):
        load_component(tmp_path / "g")


def test_wrong_version_class_and_config(tmp_path):
    save_component(_gpt(), tmp_path / "g")
    p = tmp_path / "g" / "config.json"
    meta = json.loads(p.read_text())
    for change, match in [({"format_version": 99}, "format version 99"), ({"class": "Nope"}, "unknown component"),
                          ({"config": {**meta["config"], "wings": 2}}, "unknown config key")]:
        p.write_text(json.dumps({**meta, **change}))
        with pytest.raises(CheckpointError, match=match):
            load_component(tmp_path / "g")
    p.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_component(tmp_path / "g")
    p.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="expected VQGAN"):
        load_component(tmp_path / "g", "VQGAN")


def test_pipeline_with_disagreeing_mel_configs_is_refused(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    save_component(GriffinLim(GriffinLimConfig(mel=MelConfig(fmax=7000.0))), bad / "vocoder")
    with pytest.raises(CheckpointError, match="mel configs disagree.*fmax"):
        TextToSound.from_pretrained(bad)


def test_pipeline_component_misfit_is_refused(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    save_component(VQGAN(tiny_vqgan_config(n_codes=32)), bad / "vqgan")
    with pytest.raises(CheckpointError, match="codebook"):
        TextToSound.from_pretrained(bad)


def test_pipeline_json_problems(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    p = bad / "pipeline.json"
    meta = json.loads(p.read_text())
    p.write_text(json.dumps({**meta, "format_version": 2}))
    with pytest.raises(CheckpointError, match="format version 2"):
        TextToSound.from_pretrained(bad)
    p.unlink()
    with pytest.raises(CheckpointError, match="not a vividsound model"):
        TextToSound.from_pretrained(bad)


def test_interrupted_save_keeps_the_old_folder(tmp_path, monkeypatch):
    g = _gpt()
    save_component(g, tmp_path / "g")
    before = (tmp_path / "g" / "model.safetensors").read_bytes()
    import vividsound.checkpoint as ck

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(RuntimeError):
        ck.save_component(g, tmp_path / "g")
    assert (tmp_path / "g" / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g"]


def test_load_skips_the_random_init(tmp_path):
    """GPT weights are assigned to a model built without random init (no RNG draw); it is the same model."""
    g = _gpt()
    save_component(g, tmp_path / "g")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    g2 = load_component(tmp_path / "g", "ConditionalGPT")
    assert torch.equal(torch.get_rng_state(), before)  # an ordinary build draws thousands of numbers
    _gpt()
    assert not torch.equal(torch.get_rng_state(), torch.manual_seed(123).get_state())
    assert g2.state_dict().keys() == g.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), g2.state_dict().values()))


def test_load_falls_back_for_classes_with_non_persistent_buffers(tmp_path, monkeypatch):
    from vividsound import checkpoint

    g = _gpt()
    save_component(g, tmp_path / "g")

    class WithBuffer(ConditionalGPT):
        def __init__(self, config):
            super().__init__(config)
            self.register_buffer("table", torch.arange(4.0), persistent=False)

    monkeypatch.setattr(checkpoint, "component_class", lambda name: WithBuffer)
    g2 = load_component(tmp_path / "g")
    assert torch.equal(g2.table, torch.arange(4.0))  # built the ordinary way: the buffer is real
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(), g2.state_dict().values()))


def test_no_init_leaves_the_rng_alone_for_every_layer_kind():
    from vividsound.fastinit import no_init
    from vividsound.models.vocoders import HiFiGAN, HiFiGANConfig, MelGAN, MelGANConfig

    torch.manual_seed(5)
    before = torch.get_rng_state()
    with no_init():  # (the VQGAN's codebook is drawn by torch.randn, a factory: not skipped, still loaded)
        ConditionalGPT(GPTConfig(vocab_size=20, block_size=10, rows=5, cond_dim=8, cond_len=2, n_layer=1,
                                 n_head=2, n_embd=8))
        MelGAN(MelGANConfig())
        HiFiGAN(HiFiGANConfig(weights="own", upsample_initial_channel=32))
        torch.nn.Embedding(10, 4, padding_idx=0)
        torch.nn.MultiheadAttention(8, 2)
    assert torch.equal(torch.get_rng_state(), before)
