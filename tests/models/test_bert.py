"""The direct BERT (vividsound.models.bert) gives bitwise the tokens and features of transformers' BertModel."""

import pytest
import torch

from vividsound.models.bert import BertConfig, BertEncoder, BertTokenizer
from vividsound.models.text import TextEncoder, TextEncoderConfig, minilm_path

PROMPTS = [
    "a dog barks",
    "Rain falls on a TIN roof while thunder rumbles far away, then a car passes",
    "café crème: naïve façade — 東京 ümlaut!!",
    "  leading and   inner spaces\tand a tab ",
    "word " * 200,  # longer than 128 tokens: truncated
]


def _transformers_pair(folder):
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    return model, transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


@pytest.mark.parametrize("which", ["minilm", "tiny"])
def test_direct_bert_equals_transformers_bitwise(which, tiny_bert_dir):
    folder = minilm_path() if which == "minilm" else tiny_bert_dir
    ref_model, ref_tok = _transformers_pair(folder)
    model, tok = BertEncoder.from_folder(folder), BertTokenizer(folder)
    for batch in (PROMPTS[:1], PROMPTS[:2], PROMPTS):  # unpadded, padded, truncated
        want = ref_tok(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
        got = tok(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
        assert set(got) == set(want)
        for k in got:
            assert torch.equal(got[k], want[k]), k
        with torch.no_grad():
            ref = ref_model(**want).last_hidden_state
            out = model(**got).last_hidden_state
        assert torch.equal(out, ref)
    assert tok("a dog barks")["input_ids"] == ref_tok("a dog barks")["input_ids"]


def test_text_encoder_uses_the_direct_path_without_importing_transformers():
    import subprocess
    import sys

    code = ("import sys; from vividsound.models.text import TextEncoder, TextEncoderConfig; "
            "e = TextEncoder(TextEncoderConfig()); f = e(['a dog barks']); "
            "print(type(e._backbone[0]).__name__, f.features.shape[1], 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["BertEncoder", "30", "False"]


def test_not_a_plain_bert_falls_back(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "mpnet"}')
    assert BertConfig.from_folder(tmp_path) is None
    (tmp_path / "config.json").write_text('{"model_type": "bert", "position_embedding_type": "relative_key"}')
    assert BertConfig.from_folder(tmp_path) is None


def test_wrong_width_is_a_checkpoint_error(tiny_bert_dir):
    from vividsound.errors import CheckpointError

    with pytest.raises(CheckpointError, match="32-d features.*dim=384"):
        TextEncoder(TextEncoderConfig(backbone="hf", path=str(tiny_bert_dir), dim=384))
