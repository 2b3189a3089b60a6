"""One source of each sampling default: the library's SamplingDefaults, which the training export, the
default recipe's configs, the bundled model and the web page all take instead of writing their own."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

import vividsound
from vividsound.sampling_defaults import SamplingDefaults

PKG = Path(vividsound.__file__).parent


def test_pipeline_reexports_the_one_class():
    from vividsound import pipeline

    assert pipeline.SamplingDefaults is SamplingDefaults


def test_training_export_defaults_are_the_library_defaults():
    from vividsound.train.gpt import ExportConfig

    e, d = ExportConfig(), SamplingDefaults()
    assert (e.duration, e.top_k, e.cfg_scale) == (d.duration, d.top_k, d.cfg_scale)


@pytest.mark.parametrize("name", sorted(p.name for p in (PKG / "configs" / "default").glob("gpt*.yaml")))
def test_default_recipe_configs_take_the_library_defaults(name):
    from vividsound.train import load_stage_config

    e = load_stage_config("gpt", PKG / "configs" / "default" / name).export
    d = SamplingDefaults()
    assert (e.duration, e.top_k, e.cfg_scale) == (d.duration, d.top_k, d.cfg_scale)


def test_bundled_model_ships_the_library_defaults():
    meta = json.loads((PKG / "default_model" / "pipeline.json").read_text())
    assert meta["defaults"] == dataclasses.asdict(SamplingDefaults())


def test_web_page_writes_no_top_k_of_its_own():
    # the page fills the field from GET /v1/model's defaults; a value in the HTML would be a second default
    html = (PKG / "server" / "static" / "index.html").read_text()
    tag = re.search(r'<input[^>]*id="top_k"[^>]*>', html).group(0)
    assert "value=" not in tag
