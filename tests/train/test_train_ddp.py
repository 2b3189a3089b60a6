"""Two CPU processes (gloo) train the tagger and the GPT under DDP and end with identical parameters."""

import os
import socket

import torch
import torch.multiprocessing as mp

from train_helpers import TINY_CNN, TINY_GPT, tiny_overrides


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, stage: str, overrides: list, run: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from vividsound.train import load_stage_config, stage_class
    from vividsound.train.loop import run_stage

    cfg = load_stage_config(stage, None, overrides)

    def dump(st):
        comp = next(iter(st.components().values()))
        torch.save({k: v.detach().clone() for k, v in comp.state_dict().items()}, f"{out}/rank{rank}.pt")
        torch.save(st.order.pos, f"{out}/pos{rank}.pt")

    try:
        run_stage(stage_class(stage), cfg, run, on_end=dump)
    finally:
        dist.destroy_process_group()


def _run(stage, overrides, tmp_path):
    out = tmp_path / "dump"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), stage, overrides, str(tmp_path / "run"), str(out)), nprocs=2, join=True)
    a, b = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs between ranks"
    return a


def test_ddp_tagger_ranks_agree(corpus, tmp_path):
    from vividsound.train import load_stage_config
    from vividsound.models.tagger import Tagger
    import dataclasses

    o = tiny_overrides(corpus, tmp_path / "c", steps=3, grad_accum=2) + TINY_CNN
    a = _run("tagger", o, tmp_path)
    # training moved the weights away from their (seeded) initial values
    cfg = load_stage_config("tagger", None, o)
    torch.manual_seed(0)
    init = Tagger(dataclasses.replace(cfg.model, tags=("chirp", "high", "low", "noise", "tone"))).state_dict()
    assert any(not torch.equal(init[k], a[k]) for k in a)
    assert (tmp_path / "run" / "export" / "tagger" / "model.safetensors").is_file()


def test_ddp_gpt_ranks_agree(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    o = tiny_overrides(corpus, shared_cache, steps=3) + TINY_GPT + [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}"]
    _run("gpt", o, tmp_path)


def test_ddp_vqgan_with_discriminator_ranks_agree(corpus, tagger_dir, tmp_path):
    from train_helpers import TINY_VQ

    o = tiny_overrides(corpus, tmp_path / "c", steps=3) + TINY_VQ + [f"loss.tagger={tagger_dir}", "loss.disc_start=1"]
    _run("vqgan", o, tmp_path)
