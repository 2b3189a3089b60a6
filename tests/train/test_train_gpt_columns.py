"""``vividsound train gpt`` with ``model.type=columns``: the column-parallel GPT trains, exports and resumes."""

from train_helpers import TINY_GPT, metrics, tiny_overrides
from vividsound.models.gpt_columns import ColumnGPT
from vividsound.pipeline import TextToSound
from vividsound.train import train


def test_column_gpt_overfits_one_batch_and_exports(one_batch, vqgan_dir, tiny_bert_dir, tmp_path):
    run = tmp_path / "run"
    train("gpt", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.005) + TINY_GPT +
          [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "crop_columns=32", "cond_dropout=0.0",
           "model.type=columns"])
    m = metrics(run)
    assert m[-1]["train/ce"] < 0.4 * m[0]["train/ce"], (m[0]["train/ce"], m[-1]["train/ce"])
    pipe = TextToSound.from_pretrained(run / "export")
    assert isinstance(pipe.gpt, ColumnGPT) and pipe.gpt.config.rows == 5
    out = pipe("a low tone hums", duration=0.3, seed=1)
    assert out.codes.shape[1:] == (5, pipe.columns_for(0.3))
