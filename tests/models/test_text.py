import pytest
import torch

from vividsound.errors import CheckpointError, InputError
from vividsound.models.text import TextEncoder, TextEncoderConfig, check_prompts


def test_minilm_from_the_wheel_offline():
    enc = TextEncoder(TextEncoderConfig(backbone="minilm", mode="sequence", max_tokens=30, dim=384))
    f = enc(["a dog barks", "rain falls on a tin roof while thunder rumbles far away"])
    assert f.features.shape == (2, 30, 384) and f.mask.shape == (2, 30)
    n = len(enc._tokenizer("a dog barks")["input_ids"])  # [CLS] a dog bark ##s [SEP]
    assert f.mask[0].sum() == n and f.mask[1].sum() > n
    assert (f.features[0, n:] == 0).all()  # padding carries nothing
    pooled = TextEncoder(TextEncoderConfig(mode="pooled"))(["a dog barks", "a dog is barking", "thunder"])
    a, b, c = torch.nn.functional.normalize(pooled.features[:, 0], dim=-1)
    assert (a @ b) > (a @ c) + 0.2  # paraphrases are closer than unrelated prompts


def test_clip_text_model_by_path(tmp_path):
    import transformers

    from vividsound.testing import TOKENIZER_FILES  # noqa: F401  (the BERT tokenizer is reused below)

    cfg = transformers.CLIPTextConfig(vocab_size=30522, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=77)
    transformers.CLIPTextModel(cfg).save_pretrained(tmp_path)
    from vividsound.models.text import minilm_path
    import shutil

    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_path() / name, tmp_path / name)
    enc = TextEncoder(TextEncoderConfig(backbone="hf", path=str(tmp_path), mode="pooled", dim=16))
    assert enc._arch == "clip"
    f = enc(["a bell", "a horn"])
    assert f.features.shape == (2, 1, 16) and f.mask.all()


def test_adapter_starts_as_identity_and_is_the_only_saved_state(tiny_bert_dir):
    cfg = TextEncoderConfig(backbone="hf", path=str(tiny_bert_dir), mode="sequence", max_tokens=8, dim=32,
                            adapter="mlp")
    enc = TextEncoder(cfg)
    plain = TextEncoder(TextEncoderConfig(backbone="hf", path=str(tiny_bert_dir), mode="sequence", max_tokens=8, dim=32))
    assert torch.allclose(enc(["wind"]).features, plain(["wind"]).features, atol=1e-6)
    assert all(k.startswith("adapter.") for k in enc.state_dict())
    assert plain.state_dict() == {}


def test_wrong_width_and_missing_model(tiny_bert_dir, tmp_path):
    with pytest.raises(CheckpointError, match="384-d|32-d"):
        TextEncoder(TextEncoderConfig(backbone="hf", path=str(tiny_bert_dir), dim=384))
    with pytest.raises(CheckpointError, match="cannot load text model"):
        TextEncoder(TextEncoderConfig(backbone="hf", path=str(tmp_path / "none"), dim=32))
    with pytest.raises(CheckpointError, match="cannot load text model.*not a local folder"):
        TextEncoder(TextEncoderConfig(backbone="hf", path="someone/not-cached-model", dim=32))


def test_check_prompts_normalises_whitespace():
    assert check_prompts(" a  dog\nbarks ") == ["a dog barks"]
    with pytest.raises(InputError):
        check_prompts(["fine", "\t"])


def test_mpnet_backbone_when_assembled():
    from vividsound.models.text import mpnet_path

    try:
        mpnet_path()
    except CheckpointError as e:
        assert "python -m vividsound.models.mpnet" in str(e)  # the error tells how to get it
        pytest.skip("all-mpnet-base-v2 not reassembled on this machine")
    enc = TextEncoder(TextEncoderConfig(backbone="mpnet", mode="pooled", dim=768))
    assert enc(["a dog barks"]).features.shape == (1, 1, 768)
