import pytest
import torch

from train_helpers import TINY_VQ, metrics, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.losses.perceptual import PerceptualLoss, PerceptualWeightsError
from vividsound.train import train
from vividsound.train.loop import TrainingError


def test_vqgan_runs_with_discriminator_and_logs_codebook(vqgan_dir):
    run = vqgan_dir.parent.parent
    m = metrics(run)
    assert [r["train/disc_on"] for r in m] == [0.0, 0.0, 1.0, 1.0]
    assert "train/d_loss" in m[2] and "train/adaptive_weight" in m[2] and "train/d_loss" not in m[1]
    assert all(0 < r["train/usage"] <= 1 and r["train/perplexity"] >= 1 for r in m)
    assert "train/revived" in m[1]
    val = metrics(run, "val")[-1]
    assert {"val/nll", "val/usage", "val/perplexity", "val/psnr"} <= set(val)
    vq = load_component(vqgan_dir, "VQGAN")
    assert vq.encode(torch.randn(1, 80, 16) - 5).indices.shape == (1, 5, 4)
    assert (run / "export" / "discriminator" / "config.json").is_file()


def test_perceptual_refuses_without_tagger_weights(corpus, tmp_path, tagger_dir):
    mel = load_component(tagger_dir).mel_config
    with pytest.raises(PerceptualWeightsError, match="needs tagger weights"):
        PerceptualLoss.from_folder(tmp_path / "nothing", mel)
    # a config.json without weights
    (tmp_path / "cfgonly").mkdir()
    (tmp_path / "cfgonly" / "config.json").write_text((tagger_dir / "config.json").read_text())
    with pytest.raises(PerceptualWeightsError, match="no model.safetensors"):
        PerceptualLoss.from_folder(tmp_path / "cfgonly", mel)
    # weights that were never trained
    from vividsound.checkpoint import save_component

    save_component(load_component(tagger_dir), tmp_path / "untrained")
    with pytest.raises(PerceptualWeightsError, match="never trained"):
        PerceptualLoss.from_folder(tmp_path / "untrained", mel)
    # the stage refuses before any training, with an empty tagger path too
    for bad in ("", str(tmp_path / "nothing")):
        with pytest.raises(PerceptualWeightsError):
            train("vqgan", None, tmp_path / f"run{len(bad)}",
                  overrides=tiny_overrides(corpus, tmp_path / "c") + TINY_VQ + [f"loss.tagger={bad}"])
    assert not (tmp_path / "run0" / "checkpoints").exists()


def test_perceptual_loss_is_zero_for_equal_inputs_and_grows(tagger_dir):
    p = PerceptualLoss.from_folder(tagger_dir, load_component(tagger_dir).mel_config)
    x = torch.randn(2, 80, 32) - 5
    assert float(p(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(p(x, x + 0.5 * torch.randn_like(x))) > float(p(x, x + 0.05 * torch.randn_like(x))) > 0


def test_vqgan_overfits_one_batch(one_batch, tmp_path, tagger_dir):
    run = tmp_path / "run"
    train("vqgan", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.005) + TINY_VQ
          + [f"loss.tagger={tagger_dir}", "data.crop_frames=128", "loss.disc_start=1000", "loss.revive_every=0"])
    m = metrics(run)
    assert m[-1]["train/l1"] < 0.5 * m[0]["train/l1"], (m[0]["train/l1"], m[-1]["train/l1"])


def test_vqgan_stops_on_nan(corpus, tmp_path, tagger_dir, monkeypatch):
    from vividsound.train import vqgan as vq_stage

    orig = vq_stage.VQGANStage._nll

    def nan_nll(self, x, recon):
        nll, parts = orig(self, x, recon)
        return nll * float("nan"), parts

    monkeypatch.setattr(vq_stage.VQGANStage, "_nll", nan_nll)
    with pytest.raises(TrainingError, match=r"loss vqgan is nan at step 0"):
        train("vqgan", None, tmp_path / "run",
              overrides=tiny_overrides(corpus, tmp_path / "c") + TINY_VQ + [f"loss.tagger={tagger_dir}"])


def test_decoder_fine_tune_keeps_encoder_and_codebook(corpus, shared_cache, tmp_path, tagger_dir, vqgan_dir):
    """train_parts=decoder: the codes of any mel stay those of init_from; only the decoder learns; crop lengths
    vary over whole columns between min_crop_frames and data.crop_frames."""
    run = tmp_path / "ft"
    train("vqgan", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=8, lr=0.01) + TINY_VQ
          + [f"loss.tagger={tagger_dir}", "loss.disc_start=4", f"init_from={vqgan_dir}", "train_parts=decoder",
             "data.crop_frames=64", "min_crop_frames=16"])
    before, after = load_component(vqgan_dir, "VQGAN"), load_component(run / "export" / "vqgan", "VQGAN")
    sb, sa = before.state_dict(), after.state_dict()
    frozen = [k for k in sb if k.startswith(("encoder.", "quantizer."))]
    assert frozen and all(torch.equal(sb[k].float(), sa[k].float()) for k in frozen)
    assert any(not torch.equal(sb[k].float(), sa[k].float()) for k in sb if k.startswith("decoder."))
    mel = torch.randn(2, 80, 64) - 5
    assert torch.equal(before.encode(mel).indices, after.encode(mel).indices)
    m = metrics(run)
    crops = {r["train/crop_frames"] for r in m}
    assert len(crops) > 1 and all(16 <= c <= 64 and c % 4 == 0 for c in crops), crops
    assert "train/revived" not in m[1] and "train/d_loss" in m[-1]


@pytest.mark.parametrize("extra, match", [
    (["train_parts=decoder"], "set init_from"),
    (["train_parts=encoder"], "train_parts='encoder'"),
    (["min_crop_frames=6"], "min_crop_frames=6"),
    (["min_crop_frames=64"], "min_crop_frames=64"),
    (["init_from={vq}", "model.quantizer.n_codes=64"], "does not match this VQGAN: quantizer"),
])
def test_fine_tune_options_refuse_bad_values(corpus, shared_cache, tmp_path, tagger_dir, vqgan_dir, extra, match):
    from vividsound.errors import ConfigError

    extra = [e.format(vq=vqgan_dir) for e in extra]
    with pytest.raises(ConfigError, match=match):
        train("vqgan", None, tmp_path / "run", overrides=tiny_overrides(corpus, shared_cache) + TINY_VQ
              + [f"loss.tagger={tagger_dir}"] + extra)
    assert not (tmp_path / "run" / "checkpoints").exists()
