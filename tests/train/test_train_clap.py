import torch

from train_helpers import TINY_GPT, metrics, tiny_clap, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.pipeline import TextToSound
from vividsound.train import train


def test_clap_trains_exports_and_feeds_the_gpt(corpus, shared_cache, tiny_bert_dir, vqgan_dir, tmp_path):
    run = tmp_path / "clap"
    train("clap", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=3) + tiny_clap(tiny_bert_dir))
    clap = load_component(run / "export" / "clap", "CLAP")
    a = clap.embed_audio(torch.randn(2, 80, 32) - 5)
    t = clap.embed_text(["a low tone hums", "static noise"])
    assert a.shape == t.shape == (2, 16)
    assert torch.allclose(a.norm(dim=-1), torch.ones(2), atol=1e-5)
    # the standalone text encoder carries the trained adapter (and nothing of the backbone)
    enc = load_component(run / "export" / "text_encoder", "TextEncoder")
    assert set(enc.state_dict()) == {f"adapter.{k}" for k in clap.text.adapter.state_dict()}
    assert float(enc.adapter[-1].weight.detach().abs().sum()) > 0  # trained away from its zero init
    f = enc(["a low tone hums"]).features[:, 0]
    assert torch.allclose(clap.text_proj(f).div(clap.text_proj(f).norm()), clap.embed_text(["a low tone hums"]), atol=1e-5)
    assert {"val/loss", "val/audio_to_text_R@1"} <= set(metrics(run, "val")[-1])
    # the GPT stage accepts it as text encoder `clap`, in sequence mode too
    gpt_run = tmp_path / "gpt"
    train("gpt", None, gpt_run, overrides=tiny_overrides(corpus, shared_cache, steps=2) + TINY_GPT +
          [f"vqgan={vqgan_dir}", "text.encoder=clap", f"text.path={run / 'export' / 'text_encoder'}",
           "text.mode=sequence"])
    pipe = TextToSound.from_pretrained(gpt_run / "export")
    assert pipe.text_encoder.config.adapter == "mlp" and pipe.text_encoder.config.mode == "sequence"
    assert torch.equal(pipe.text_encoder.adapter[-1].weight, enc.adapter[-1].weight)


def test_clap_overfits_one_batch(one_batch, tiny_bert_dir, tmp_path):
    run = tmp_path / "run"
    train("clap", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.003)
          + tiny_clap(tiny_bert_dir) + ["data.crop_frames=128"])
    m = metrics(run)
    assert m[-1]["train/info_nce"] < 0.4 * m[0]["train/info_nce"], (m[0], m[-1])
