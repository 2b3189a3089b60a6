from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from vividsound.config import apply_overrides, from_dict, load_config_file, to_dict
from vividsound.errors import ConfigError
from vividsound.models.gpt import GPTConfig
from vividsound.models.vqgan import VQGANConfig


@dataclass(frozen=True)
class Inner:
    width: int = 4
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    lr: float = 1e-3
    name: str = "x"
    steps: Optional[int] = None
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_round_trip_nested():
    cfg = from_dict(VQGANConfig, to_dict(VQGANConfig()))
    assert cfg == VQGANConfig()
    o = from_dict(Outer, {"lr": 1, "sizes": [3, 4], "inner": {"kind": "b"}})
    assert o.lr == 1.0 and isinstance(o.lr, float) and o.sizes == (3, 4) and o.inner.kind == "b"


@pytest.mark.parametrize("data, match", [
    ({"lrr": 1}, "unknown config key"),
    ({"inner": {"depth": 1}}, "inner.depth"),
    ({"lr": "fast"}, "lr: expected a number"),
    ({"steps": 1.5}, "steps"),
    ({"inner": {"kind": "c"}}, "not one of"),
    ({"sizes": 3}, "expected a list"),
    ({"name": 3}, "expected a string"),
])
def test_strict_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(Outer, data)


def test_validation_inside_configs_is_a_config_error():
    with pytest.raises(ConfigError, match="divisible"):
        from_dict(GPTConfig, {"n_embd": 10, "n_head": 3})


def test_overrides_are_typed():
    data = apply_overrides({"gpt": {"n_layer": 2}}, ["gpt.n_layer=12", "gpt.dropout=0.1", "name=run"])
    assert data == {"gpt": {"n_layer": 12, "dropout": 0.1}, "name": "run"}
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["gpt.n_layer"])
    bad = apply_overrides({}, ["n_layer=twelve"])
    with pytest.raises(ConfigError, match="n_layer: expected an integer"):
        from_dict(GPTConfig, bad)


def test_config_files(tmp_path):
    (tmp_path / "a.yaml").write_text("n_layer: 3\nn_head: 1\n")
    assert from_dict(GPTConfig, load_config_file(tmp_path / "a.yaml")).n_layer == 3
    (tmp_path / "b.yaml").write_text("n_layer: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(tmp_path / "b.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "c.yaml")


@dataclass(frozen=True)
class Parent:
    inner: Inner = field(default_factory=lambda: Inner(width=9, kind="b"))


def test_partial_nested_mapping_keeps_the_parents_default():
    p = from_dict(Parent, {"inner": {"width": 3}})
    assert p.inner == Inner(width=3, kind="b")  # kind from Parent's default, not Inner's "a"


def test_exponent_floats_from_yaml_overrides():
    data = apply_overrides({}, ["lr=3e-4"])
    assert from_dict(Outer, data).lr == 3e-4
    with pytest.raises(ConfigError, match="expected a number"):
        from_dict(Outer, {"lr": "3e-4x"})
