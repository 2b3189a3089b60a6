import os
import tempfile

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Files vividsound rebuilds on demand (the folded HiFi-GAN weights) go to a fresh folder, not the home cache.
os.environ.setdefault("VIVIDSOUND_CACHE", tempfile.mkdtemp(prefix="vividsound-test-cache-"))
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    from vividsound.testing import tiny_bert

    return tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_bert_dir):
    """A tiny random pipeline folder (sequence text features, Griffin-Lim vocoder)."""
    from vividsound.testing import tiny_pipeline

    folder = tmp_path_factory.mktemp("models") / "tiny"
    tiny_pipeline(folder, bert_folder=tiny_bert_dir)
    return folder


@pytest.fixture(scope="session")
def tiny_tts(tiny_model_dir):
    from vividsound.pipeline import TextToSound

    return TextToSound.from_pretrained(tiny_model_dir)


@pytest.fixture
def readonly_dir(tmp_path):
    """A read-only folder that even root cannot write into: a tmpfs mounted read-only (needs the right
    to mount, e.g. root in a container; skipped otherwise, since file modes do not stop root)."""
    import shutil
    import subprocess

    ro = tmp_path / "readonly"
    ro.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                                                       capture_output=True).returncode != 0:
        if os.geteuid() != 0:
            ro.chmod(0o555)  # enough for a normal user
            yield ro
            ro.chmod(0o755)
            return
        pytest.skip("cannot make a read-only folder here (root without the right to mount)")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory, tiny_bert_dir):
    """A tiny random CLAP component folder (the best-of-N scorer), reading the tiny pipeline's mel settings."""
    import torch

    from vividsound.checkpoint import save_component
    from vividsound.models.clap import CLAP, CLAPConfig, CLAPTextConfig
    from vividsound.models.tagger import MelCNNConfig

    torch.manual_seed(0)
    cfg = CLAPConfig(audio=MelCNNConfig(channels=(4, 8), embed_dim=8, dropout=0.0),
                     text=CLAPTextConfig(backbone="hf", path=str(tiny_bert_dir), dim=32), embed_dim=6)
    folder = tmp_path_factory.mktemp("clap") / "clap"
    save_component(CLAP(cfg), folder)
    return folder
