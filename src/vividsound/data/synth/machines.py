"""Recipes: engines and vehicles, motors and household machines, clicks and small mechanisms."""

from __future__ import annotations

import numpy as np

from vividsound.data.synth.dsp import (SR, adsr, am, bandpass, click, decay, doppler, highpass, lowpass, modal,
                                       noise, ns, osc, place, reson, reverb, secs, wander)
from vividsound.data.synth.registry import Ctx, recipe


def _room(c: Ctx, x: np.ndarray, lo: float = 0.0, hi: float = 0.3) -> np.ndarray:
    return reverb(c.rng, x, c.u(0.3, 1.2), c.u(lo, hi))


# ---- combustion engines ---------------------------------------------------------------------------

def engine(c: Ctx, rpm: np.ndarray, cyl: int, stroke: int = 4, rough: float = 0.3, body: float = 300.0,
           clatter: float = 0.0, bright: float = 2500.0) -> np.ndarray:
    """A combustion engine following ``rpm`` (n,): firing pulses, exhaust resonance, intake noise.

    The firing rate is rpm / 60 * cyl / (stroke / 2); each firing is a short decaying pulse whose
    strength jitters (uneven combustion); the pulse train rings an exhaust resonance at ``body`` Hz."""
    n = rpm.size
    fire = rpm / 60.0 * cyl / (stroke / 2)
    phase = np.cumsum(fire) / SR
    k = np.floor(phase).astype(int)
    starts = np.flatnonzero(np.diff(k, prepend=k[0] - 1) > 0)
    pulses = np.zeros(n)
    amps = 1 + rough * c.rng.standard_normal(starts.size)
    cyl_gain = 1 + 0.3 * rough * c.rng.standard_normal(cyl)  # each cylinder a little different
    pulses[starts] = amps * cyl_gain[np.arange(starts.size) % cyl]
    kern = np.exp(-np.arange(ns(0.012)) / (SR * 0.002)) * np.sin(2 * np.pi * body * np.arange(ns(0.012)) / SR)
    x = np.convolve(pulses, kern)[:n]
    x = lowpass(x, bright) + 0.6 * reson(x, body * c.u(0.8, 1.3), 4) + 0.4 * lowpass(x, body)
    intake = bandpass(noise(c.rng, n), 300, 3000) * (0.05 + 0.15 * (rpm / rpm.max())) * (1 + np.clip(x, -1, 1))
    x = x / (np.abs(x).max() + 1e-9) + intake
    if clatter > 0:  # diesel knock: a sharp tick with each firing
        ticks = np.zeros(n)
        ticks[starts] = 1
        x += clatter * np.convolve(ticks, click(c.rng, 0.004, 2000, 8000, 0.0008))[:n]
    return np.tanh(1.5 * x)


def _rpm_idle(c: Ctx, n: int, base: float) -> np.ndarray:
    return base * (1 + 0.03 * wander(n, 2, c.rng))


def _rpm_rev(c: Ctx, n: int, idle: float, top: float) -> np.ndarray:
    t = secs(n)
    rpm = np.full(n, idle)
    for t0 in np.sort(c.rng.uniform(0.5, n / SR - 1.5, c.i(1, 3))):
        up, hold, down = c.u(0.3, 0.8), c.u(0.1, 0.6), c.u(0.8, 1.5)
        peak = c.u(0.5, 1.0) * (top - idle)
        rise = np.clip((t - t0) / up, 0, 1) ** 0.7
        fall = np.clip((t - t0 - up - hold) / down, 0, 1)
        rpm = np.maximum(rpm, idle + peak * rise * (1 - fall))
    return rpm * (1 + 0.02 * wander(n, 3, c.rng))


def _passing(c: Ctx, src_fn, seconds: float, speed: tuple[float, float], dist: tuple[float, float]) -> np.ndarray:
    src = src_fn(seconds + 2)
    return doppler(src, c.u(*speed), c.u(*dist), c.u(0.35, 0.65) * seconds, seconds)


@recipe("car_idle", "vehicles", "a car engine idles|a parked car sits idling|an engine ticks over at idle|a car idles in place",
        "an idling car engine|a car engine running at idle|the low rumble of an idling car", cont=True, tags="engine,car")
def car_idle(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = engine(c, _rpm_idle(c, n, c.u(600, 1000)), c.pick([3, 4, 4, 6, 8]), rough=c.u(0.1, 0.5), body=c.u(90, 350),
               bright=c.u(1000, 4500))
    if c.chance(0.5):  # a belt or alternator whine over the exhaust
        x += c.u(0.02, 0.1) * osc(c.u(400, 1500), n, "sine", c.rng)
    if c.chance(0.4):  # heard from the front: valve-train ticking
        x += c.u(0.1, 0.3) * engine(c, _rpm_idle(c, n, 800), 4, 0.3, body=c.u(2000, 4000), bright=8000)
    return _room(c, x * adsr(n, 0.05, 0.1))


@recipe("car_revving", "vehicles", "a car engine revs|someone revs a car engine|a driver guns the engine a few times",
        "a revving car engine|the roar of an engine being revved|engine revs", cont=True, tags="engine,car")
def car_revving(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    rpm = _rpm_rev(c, n, c.u(700, 1000), c.u(3500, 6500))
    return _room(c, engine(c, rpm, c.pick([4, 6, 8]), rough=c.u(0.1, 0.3), body=c.u(150, 350), bright=4000))


@recipe("car_passing", "vehicles", "a car drives past|a car passes by on the road|a car whooshes past and fades away",
        "a passing car|a car going by|the whoosh of a car driving past", cont=True, tags="engine,car,traffic")
def car_passing(c: Ctx) -> np.ndarray:
    s = c.u(5, 9)
    def src(sec):
        n = ns(sec)
        e = engine(c, np.full(n, c.u(1800, 3200)) * (1 + 0.02 * wander(n, 1, c.rng)), 4, 0.2, c.u(150, 300))
        tyres = lowpass(noise(c.rng, n, "pink"), c.u(1500, 3000)) * c.u(0.5, 1.2)
        return 0.6 * e + tyres
    return _passing(c, src, s, (12, 30), (3, 12))


@recipe("car_start", "vehicles", "a car engine starts up|someone starts a car, the starter whirs and the engine catches",
        "a car starting|a car engine cranking and starting", tags="engine,car")
def car_start(c: Ctx) -> np.ndarray:
    crank = c.u(0.6, 1.8)
    s = crank + c.u(2, 4)
    n = ns(s)
    t = secs(n)
    rpm = np.where(t < crank, c.u(200, 300), 0.0)
    catch = (t >= crank)
    rpm = rpm + catch * (c.u(800, 1000) + c.u(600, 1500) * np.exp(-(t - crank) / 0.6)) * (t >= crank)
    x = engine(c, np.maximum(rpm, 150), 4, 0.4, c.u(150, 300))
    starter = osc(c.u(150, 250), n, "saw", c.rng, 20) * (t < crank) * 0.3
    return _room(c, (x * np.where(t < crank, 0.5, 1) + starter) * adsr(n, 0.02, 0.2))


@recipe("truck_idle", "vehicles", "a diesel truck idles|a big lorry sits rumbling|a bus engine idles at the stop",
        "an idling diesel truck|the rumble of an idling lorry|a diesel engine ticking over", cont=True, tags="engine,truck")
def truck_idle(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = engine(c, _rpm_idle(c, n, c.u(550, 750)), 6, rough=0.2, body=c.u(60, 130), clatter=c.u(0.3, 0.8), bright=1800)
    return _room(c, x * adsr(n, 0.05, 0.1))


@recipe("truck_passing", "vehicles", "a heavy truck rumbles past|a lorry drives by|a big truck passes on the highway",
        "a passing truck|a lorry going by|the roar of a truck driving past", cont=True, tags="engine,truck,traffic")
def truck_passing(c: Ctx) -> np.ndarray:
    s = c.u(6, 10)
    def src(sec):
        n = ns(sec)
        e = engine(c, np.full(n, c.u(1200, 1800)), 6, 0.2, c.u(70, 140), clatter=0.4, bright=2000)
        return 0.7 * e + 1.2 * lowpass(noise(c.rng, n, "brown"), 800) + 0.3 * lowpass(noise(c.rng, n, "pink"), 2000)
    return _passing(c, src, s, (12, 25), (4, 15))


@recipe("motorbike", "vehicles", "a motorbike revs and rides off|a motorcycle engine growls|a motorcycle accelerates away",
        "a motorcycle engine|a revving motorbike|the growl of a motorcycle", cont=True, tags="engine,motorcycle")
def motorbike(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    rpm = _rpm_rev(c, n, c.u(900, 1300), c.u(5000, 9000))
    return _room(c, engine(c, rpm, c.pick([1, 2, 2, 4]), rough=c.u(0.3, 0.6), body=c.u(150, 400), bright=5000))


@recipe("motorbike_passing", "vehicles", "a motorbike speeds past|a motorcycle roars by|a motorbike zooms past",
        "a passing motorbike|a motorcycle zooming by", cont=True, tags="engine,motorcycle,traffic")
def motorbike_passing(c: Ctx) -> np.ndarray:
    s = c.u(5, 8)
    def src(sec):
        n = ns(sec)
        return engine(c, np.full(n, c.u(5000, 9000)) * (1 + 0.03 * wander(n, 2, c.rng)), 2, 0.4, c.u(200, 400), bright=6000)
    return _passing(c, src, s, (20, 45), (2, 10))


@recipe("scooter", "vehicles", "a moped buzzes along the street|a small scooter putters past",
        "a buzzing moped|a scooter's two-stroke buzz", cont=True, tags="engine,motorcycle")
def scooter(c: Ctx) -> np.ndarray:
    s = c.u(5, 9)
    def src(sec):
        n = ns(sec)
        return engine(c, np.full(n, c.u(5000, 8000)) * (1 + 0.05 * wander(n, 2, c.rng)), 1, stroke=2, rough=0.4,
                      body=c.u(300, 600), bright=6000)
    return _passing(c, src, s, (8, 15), (3, 8))


@recipe("boat_motor", "vehicles", "an outboard motor drones across the water|a motorboat putters along|a small boat motor runs",
        "an outboard motor|a motorboat engine|the drone of a boat's motor", cont=True, tags="engine,boat,water")
def boat_motor(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    rpm = c.u(2500, 5000) * (1 + 0.04 * wander(n, 1.5, c.rng))
    x = engine(c, rpm, c.pick([1, 2, 3]), rough=0.3, body=c.u(200, 500), stroke=2, bright=4000)
    water = bandpass(noise(c.rng, n, "pink"), 200, 3000) * am(n, 2, 0.5, c.rng) * 0.5
    return reverb(c.rng, 0.8 * x + water, c.u(0.5, 1.5), 0.3)


@recipe("tractor", "vehicles", "a tractor chugs across a field|an old tractor engine putters|a farm tractor rumbles",
        "a chugging tractor|the putter of an old tractor|a tractor engine", cont=True, tags="engine,farm")
def tractor(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = engine(c, _rpm_idle(c, n, c.u(500, 1100)), c.pick([2, 3, 4]), rough=0.5, body=c.u(80, 160), clatter=0.5, bright=2000)
    return _room(c, x, 0.05, 0.3)


@recipe("lawn_mower", "machines", "a lawn mower runs|someone mows the lawn with a petrol mower|a lawnmower drones in a garden",
        "a lawn mower|the drone of a petrol lawnmower|someone mowing the lawn", cont=True, tags="engine,garden")
def lawn_mower(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    rpm = c.u(2800, 3600) * (1 + 0.04 * wander(n, 0.8, c.rng))
    x = engine(c, rpm, 1, rough=0.4, body=c.u(200, 400), bright=4000)
    grass = bandpass(noise(c.rng, n), 1000, 6000) * am(n, 1, 0.6, c.rng) * 0.2
    return reverb(c.rng, (x + grass) * am(n, 0.3, 0.3, c.rng), c.u(0.3, 1.0), 0.2)


@recipe("chainsaw", "tools", "a chainsaw revs and cuts wood|someone cuts a log with a chainsaw|a chainsaw screams",
        "a chainsaw|a revving chainsaw|the whine of a chainsaw cutting", cont=True, tags="engine,saw")
def chainsaw(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    rpm = _rpm_rev(c, n, c.u(2500, 3000), c.u(9000, 12000))
    x = engine(c, rpm, 1, rough=0.3, body=c.u(300, 600), stroke=2, bright=7000)
    return _room(c, x + 0.2 * bandpass(noise(c.rng, n), 2000, 8000) * (rpm / rpm.max()) ** 2)


@recipe("generator", "machines", "a petrol generator runs steadily|a diesel generator hums outside",
        "a running generator|the steady drone of a generator", cont=True, tags="engine,machine")
def generator(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = engine(c, np.full(n, c.pick([1500.0, 1800.0, 3000.0, 3600.0])) * (1 + 0.005 * wander(n, 1, c.rng)),
               c.pick([1, 2, 4]), rough=0.2, body=c.u(100, 300))
    hum = osc(c.pick([50, 60]), n, "sine", c.rng) * 0.1
    return _room(c, x + hum)


@recipe("propeller_plane", "vehicles", "a small propeller plane flies overhead|a light aircraft drones across the sky",
        "a propeller plane flying over|the drone of a light aircraft", cont=True, tags="engine,aircraft")
def propeller_plane(c: Ctx) -> np.ndarray:
    s = c.u(7, 10)
    def src(sec):
        n = ns(sec)
        rpm = np.full(n, c.u(2200, 2700))
        prop = osc(rpm / 60 * c.pick([2, 3]), n, "saw", c.rng, 20)
        return 0.6 * engine(c, rpm, 4, 0.2, c.u(150, 300)) + 0.5 * lowpass(prop, 1200) + 0.3 * lowpass(noise(c.rng, n, "pink"), 2000)
    return reverb(c.rng, _passing(c, src, s, (40, 70), (80, 300)), 2.0, 0.3)


@recipe("jet_plane", "vehicles", "a jet plane roars overhead|an airliner flies over|a jet passes high above",
        "a jet flying over|the roar of a passing airliner|a jet aircraft", cont=True, tags="engine,aircraft")
def jet_plane(c: Ctx) -> np.ndarray:
    s = c.u(7, 10)
    def src(sec):
        n = ns(sec)
        roar = lowpass(noise(c.rng, n, "pink"), c.u(1500, 4000))
        whine = osc(c.u(2500, 5000) * (1 + 0.002 * wander(n, 1, c.rng)), n, "sine", c.rng) * 0.05
        return roar + whine
    return reverb(c.rng, _passing(c, src, s, (80, 200), (300, 1500)), 3.0, 0.4)


@recipe("helicopter", "vehicles", "a helicopter hovers nearby|a helicopter's blades chop the air|a helicopter flies over",
        "a helicopter's thudding rotor|the chop of helicopter blades|a hovering helicopter", cont=True, tags="engine,aircraft")
def helicopter_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    def src(sec):
        n = ns(sec)
        rate = c.u(9, 22)  # blade passes per second
        out = np.zeros(n)
        for t in np.arange(0, sec, 1 / rate):
            place(out, lowpass(noise(c.rng, ns(0.05)), 600) * decay(ns(0.05), 0.012), t)
        turb = osc(c.u(3000, 6000), n, "sine", c.rng) * 0.05 + 0.2 * lowpass(noise(c.rng, n, "pink"), 3000)
        tail = osc(rate * c.u(4, 6), n, "saw", c.rng, 10) * 0.1
        return out / (np.abs(out).max() + 1e-9) + turb + tail
    if c.chance(0.5):
        return _passing(c, src, s, (20, 50), (30, 120))
    return _room(c, src(s))


@recipe("train", "vehicles", "a train rattles past on the tracks|a freight train rumbles by|a train clatters over the rails",
        "a passing train|the clickety-clack of a train|a train rolling by", cont=True, tags="train,traffic")
def train_passing(c: Ctx) -> np.ndarray:
    s = c.u(7, 10)
    def src(sec):
        n = ns(sec)
        out = lowpass(noise(c.rng, n, "brown"), 500) * 1.5 + 0.3 * bandpass(noise(c.rng, n), 1000, 5000)
        car = c.u(0.6, 1.2)  # seconds per carriage
        for t0 in np.arange(0, sec, car):
            for dt in (0, c.u(0.08, 0.15)):
                place(out, click(c.rng, 0.06, 60, 1500, 0.015) * 6, t0 + dt)
        return out
    return _passing(c, src, s, (15, 30), (8, 25))


@recipe("subway_train", "vehicles", "an underground train screeches into the station|a subway train arrives and brakes",
        "a subway train arriving|the squeal and rumble of a metro train", cont=True, tags="train,brakes")
def subway_train(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    t = secs(n)
    rumble = lowpass(noise(c.rng, n, "brown"), 400) * adsr(n, 2.0, 1.0)
    squeal = osc(c.u(2000, 4000) * (1 + 0.02 * wander(n, 3, c.rng)), n, "sine", c.rng)
    squeal *= np.clip((t - c.u(1, 3)) / 1.0, 0, 1) * am(n, 4, 0.6, c.rng) * 0.3
    return reverb(c.rng, rumble + squeal, c.u(1.5, 2.5), 0.5)


@recipe("tyre_screech", "vehicles", "tyres screech as a car brakes hard|a car skids with screeching tyres",
        "screeching tyres|a car skidding|the squeal of tyres", tags="car,brakes")
def tyre_screech(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.8, 2.5))
    f = c.u(800, 1600) * (1 + 0.08 * wander(n, 6, c.rng))
    x = np.tanh(2 * osc(f, n, "saw", c.rng, 8)) * 0.6 + bandpass(noise(c.rng, n), 1000, 5000)
    x *= adsr(n, 0.05, 0.2) * am(n, 8, 0.4, c.rng)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.3))]))


@recipe("car_door", "vehicles", "a car door slams shut|someone shuts a car door|a car door closes with a thunk",
        "a car door slamming|the thunk of a car door", tags="car,door")
def car_door(c: Ctx) -> np.ndarray:
    x = lowpass(noise(c.rng, ns(0.3)), c.u(300, 700)) * decay(ns(0.3), c.u(0.03, 0.06)) * 3
    x += modal(c.rng, [c.u(150, 250), c.u(400, 600), c.u(900, 1300)], [0.08, 0.05, 0.03], [1, 0.5, 0.3], 0.3)
    x += 0.3 * click(c.rng, 0.3, 2000, 6000, 0.005)  # the latch
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.4))]), 0, 0.2)


@recipe("indicator_ticking", "vehicles", "a car's turn signal ticks|the indicator clicks on and off",
        "a ticking car indicator|the click of a turn signal", cont=True, tags="car,click")
def indicator_ticking(c: Ctx) -> np.ndarray:
    s = c.long()
    period = c.u(0.33, 0.45)
    out = np.zeros(ns(s))
    tick = click(c.rng, 0.03, 1500, 6000, 0.003)
    tock = click(c.rng, 0.03, 800, 4000, 0.004)
    for k, t in enumerate(np.arange(0.05, s - 0.1, period)):
        place(out, tick if k % 2 == 0 else tock * 0.8, t)
    return _room(c, out + 0.01 * lowpass(noise(c.rng, out.size, "brown"), 200), 0, 0.1)


@recipe("traffic", "vehicles", "traffic roars on a busy road|cars stream past on a city street|a busy road hums with traffic",
        "busy traffic|the roar of city traffic|cars going past on a busy road", cont=True, tags="traffic,street")
def traffic(c: Ctx) -> np.ndarray:
    s = c.long()
    out = lowpass(noise(c.rng, ns(s), "brown"), 600) * 0.5 * am(ns(s), 0.3, 0.3, c.rng)
    for _ in range(c.i(2, 6)):
        src = lowpass(noise(c.rng, ns(s + 2), "pink"), c.u(1500, 3000))
        out += doppler(src, c.u(10, 20), c.u(5, 20), c.u(0, s), s) * c.u(0.3, 1)
    return out


# ---- motors and machines --------------------------------------------------------------------------

def _motor(c: Ctx, n: int, f: np.ndarray, whine: float, noise_band: tuple[float, float], noise_amt: float) -> np.ndarray:
    x = osc(f, n, "saw", c.rng, 12) * whine + osc(f * 2, n, "sine", c.rng) * whine * 0.5
    return x + noise_amt * bandpass(noise(c.rng, n), *noise_band)


@recipe("electric_fan", "domestic", "an electric fan whirs|a desk fan hums steadily|a fan blows in the room",
        "a whirring fan|the steady hum of an electric fan|a fan running", cont=True, tags="machine,fan")
def electric_fan(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    blade = c.u(15, 40)
    air = lowpass(noise(c.rng, n, "pink"), c.u(1500, 3000)) * (1 + 0.15 * np.sin(2 * np.pi * blade * secs(n)))
    hum = osc(c.pick([50, 60]) * 2, n, "sine", c.rng) * c.u(0.02, 0.1)
    return (air + hum) * adsr(n, 0.3, 0.3)


@recipe("air_conditioner", "domestic", "an air conditioner hums|an AC unit blows and rumbles|the air conditioning runs",
        "a humming air conditioner|the drone of an AC unit", cont=True, tags="machine,building")
def air_conditioner(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = lowpass(noise(c.rng, n, "pink"), c.u(800, 2000)) + 0.3 * osc(c.pick([100, 120]), n, "sine", c.rng)
    x += 0.1 * osc(c.u(200, 400), n, "tri", c.rng)
    return _room(c, x * adsr(n, 0.5, 0.5))


@recipe("refrigerator_hum", "domestic", "a fridge hums in the kitchen|a refrigerator compressor drones",
        "a humming fridge|the low drone of a refrigerator", cont=True, tags="machine,kitchen")
def refrigerator_hum(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    f = c.pick([50, 60])
    x = osc(f, n, "sine", c.rng) + 0.5 * osc(2 * f, n, "sine", c.rng) + 0.2 * osc(3 * f, n, "sine", c.rng)
    return x * 0.5 + 0.1 * lowpass(noise(c.rng, n, "pink"), 500)


@recipe("washing_machine", "domestic", "a washing machine churns its load|a washing machine spins fast|laundry tumbles in a washer",
        "a washing machine running|the spin cycle of a washer|a churning washing machine", cont=True, tags="machine")
def washing_machine_synth(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    spin = c.chance(0.5)
    if spin:
        f = c.u(10, 20) * np.clip(secs(n) / 2, 0.3, 1)
        x = osc(f * 30, n, "saw", c.rng, 8) * 0.3 + lowpass(noise(c.rng, n, "brown"), 300) * (1 + np.sin(2 * np.pi * np.cumsum(f) / SR))
    else:
        period = c.u(0.8, 1.4)
        slosh = bandpass(noise(c.rng, n, "pink"), 200, 2000) * (0.5 + 0.5 * np.sin(2 * np.pi * secs(n) / period) ** 2)
        x = slosh + 0.2 * osc(c.u(80, 120), n, "saw", c.rng, 10)
    return _room(c, x * adsr(n, 0.2, 0.2))


@recipe("vacuum", "domestic", "a vacuum cleaner roars|someone vacuums the carpet|a hoover whines",
        "a running vacuum cleaner|the whine of a hoover|someone vacuuming", cont=True, tags="machine")
def vacuum_cleaner(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    f = c.u(300, 600) * (1 + 0.01 * wander(n, 1, c.rng))
    x = _motor(c, n, f, 0.3, (500, 8000), 1.0) * am(n, 0.7, 0.2, c.rng)
    return _room(c, x * adsr(n, 0.6, 0.5))


@recipe("hair_dryer", "domestic", "a hair dryer blows|someone dries their hair with a blow dryer",
        "a hair dryer running|the whoosh of a blow dryer", cont=True, tags="machine,bathroom")
def hair_dryer(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = _motor(c, n, np.full(n, c.u(250, 450)), 0.2, (400, 6000), 1.0)
    return _room(c, x * adsr(n, 0.2, 0.2))


@recipe("blender", "domestic", "a blender whirs|someone blends a smoothie|a blender grinds ice",
        "a whirring blender|a kitchen blender running", cont=True, tags="machine,kitchen")
def blender(c: Ctx) -> np.ndarray:
    n = ns(c.u(4, 9))
    f = c.u(200, 400) * (1 + 0.1 * wander(n, 2, c.rng))
    x = _motor(c, n, f, 0.5, (800, 6000), 0.6)
    chunks = np.zeros(n)
    for t in np.sort(c.rng.uniform(0, n / SR, c.i(5, 40))):
        place(chunks, click(c.rng, 0.02, 1000, 6000, 0.003), t)
    return _room(c, (x + chunks) * adsr(n, 0.1, 0.2))


@recipe("drill", "tools", "an electric drill whirs|someone drills into a wall|a power drill spins up and bores",
        "a power drill|the whine of an electric drill|drilling into a wall", tags="machine,drill")
def electric_drill(c: Ctx) -> np.ndarray:
    n = ns(c.u(2, 6))
    t = secs(n)
    f = c.u(400, 900) * np.clip(t / 0.3, 0.2, 1) * (1 - 0.15 * (wander(n, 2, c.rng) > 0.3))
    x = _motor(c, n, f, 0.5, (1000, 7000), 0.4)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x * adsr(n, 0.05, 0.2), np.zeros(ns(0.3))]))


@recipe("dentist_drill", "tools", "a dentist's drill whines|a high-pitched dental drill runs",
        "the whine of a dentist's drill|a dental drill", tags="machine,drill")
def dentist_drill(c: Ctx) -> np.ndarray:
    n = ns(c.u(2, 5))
    f = c.u(3000, 6000) * (1 - 0.05 * np.abs(wander(n, 2, c.rng)))
    return _room(c, np.concatenate([np.zeros(ns(0.05)), _motor(c, n, f, 0.6, (4000, 10000), 0.2) * adsr(n, 0.1, 0.2)]))


@recipe("circular_saw", "tools", "a circular saw cuts through a board|a power saw screams through wood",
        "a circular saw|the scream of a power saw cutting", tags="machine,saw")
def circular_saw(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 7))
    t = secs(n)
    cut0, cut1 = c.u(0.6, 1.2), c.u(2.0, n / SR - 0.5)
    cutting = ((t > cut0) & (t < cut1)).astype(float)
    cutting = np.convolve(cutting, np.ones(2000) / 2000, mode="same")
    f = c.u(800, 1400) * (1 - 0.2 * cutting)
    x = _motor(c, n, f, 0.6, (1500, 8000), 0.3 + 0.8 * cutting.mean()) + 0.6 * cutting * bandpass(noise(c.rng, n), 2000, 9000)
    return _room(c, x * adsr(n, 0.1, 0.4))


@recipe("hand_saw", "tools", "someone saws a plank by hand|a hand saw rasps back and forth",
        "hand sawing|the rasp of a hand saw", cont=True, tags="saw,wood")
def hand_saw(c: Ctx) -> np.ndarray:
    s = c.u(4, 9)
    out = np.zeros(ns(s))
    stroke = c.u(0.35, 0.7)
    lo = c.u(1500, 3000)
    for k, t in enumerate(np.arange(0.05, s - stroke, stroke)):
        m = ns(stroke * 0.9)
        g = np.sin(np.pi * np.linspace(0, 1, m)) * (1.0 if k % 2 == 0 else 0.6)
        place(out, bandpass(noise(c.rng, m), lo, lo * 3) * g * (1 + 0.5 * np.sin(2 * np.pi * c.u(60, 120) * secs(m))), t)
    return _room(c, out)


@recipe("angle_grinder", "tools", "an angle grinder grinds metal|a grinder screeches against steel",
        "an angle grinder|sparks and screech of a metal grinder", tags="machine,metal")
def angle_grinder(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 7))
    f = c.u(1500, 2500) * (1 - 0.1 * np.abs(wander(n, 3, c.rng)))
    x = _motor(c, n, f, 0.5, (3000, 10000), 0.8) * am(n, 3, 0.3, c.rng)
    return _room(c, x * adsr(n, 0.2, 0.3))


@recipe("sewing_machine", "domestic", "a sewing machine rattles as it stitches|someone sews on a machine",
        "a sewing machine running|the rapid clatter of a sewing machine", cont=True, tags="machine")
def sewing_machine(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 8))
    rate = c.u(10, 20)
    out = np.zeros(n)
    for t in np.arange(0.05, n / SR - 0.1, 1 / rate):
        place(out, click(c.rng, 0.03, 800, 5000, 0.006) + 0.3 * modal(c.rng, [c.u(1500, 2500)], [0.01], [1], 0.03), t)
    return _room(c, out + 0.1 * osc(c.u(100, 200), n, "saw", c.rng, 10))


@recipe("printer", "domestic", "a printer whirs and prints a page|an inkjet printer zips back and forth",
        "a printer printing|the whir of an inkjet printer", tags="machine,office")
def printer(c: Ctx) -> np.ndarray:
    s = c.u(4, 9)
    out = np.zeros(ns(s))
    t = 0.1
    while t < s - 1:
        m = ns(c.u(0.3, 0.8))
        place(out, osc(c.u(400, 1200) * np.linspace(1, c.u(0.95, 1.05), m), m, "square", c.rng, 8) * adsr(m, 0.02, 0.02)
              * 0.5 + 0.3 * bandpass(noise(c.rng, m), 500, 4000), t)
        t += m / SR + c.u(0.05, 0.3)
        if c.chance(0.3):
            place(out, click(c.rng, 0.1, 100, 2000, 0.02), t)
    return _room(c, out, 0, 0.2)


@recipe("elevator_hum", "domestic", "an elevator hums as it moves between floors|a lift travels with a low whir",
        "a moving elevator|the hum of a lift", cont=True, tags="machine,building")
def elevator_hum(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = lowpass(noise(c.rng, n, "brown"), 300) + 0.3 * osc(c.u(100, 200), n, "saw", c.rng, 10) * adsr(n, 1.5, 1.5)
    return _room(c, x * adsr(n, 0.5, 1.0), 0.1, 0.3)


@recipe("camera", "domestic", "a camera shutter clicks|someone takes a photo with a camera|a camera snaps a picture",
        "a camera shutter|the click of a camera taking a picture", tags="camera,click")
def camera_shutter(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(2.5))
    t = 0.05
    for _ in range(c.i(1, 4)):
        place(out, click(c.rng, 0.04, 1000, 8000, 0.004), t)
        place(out, click(c.rng, 0.04, 600, 6000, 0.006) * 0.8, t + c.u(0.03, 0.12))
        if c.chance(0.4):  # motor winder
            m = ns(0.15)
            place(out, osc(c.u(600, 900), m, "saw", c.rng, 8) * 0.2 * adsr(m, 0.01, 0.02), t + 0.15)
        t += c.u(0.2, 0.5)
    return _room(c, out[: ns(t + 0.3)], 0, 0.1)


@recipe("clock", "domestic", "a clock ticks|a wall clock ticks steadily|the clock goes tick tock",
        "a ticking clock|the tick-tock of a clock|a clock ticking in a quiet room", cont=True, tags="clock,click")
def clock_ticking(c: Ctx) -> np.ndarray:
    s = c.long()
    period = c.pick([0.5, 1.0, 1.0, 0.33])
    out = np.zeros(ns(s))
    f1, f2 = c.u(2000, 4500), c.u(1500, 3500)
    tick = modal(c.rng, [f1, f1 * 1.7], [0.01, 0.006], [1, 0.5], 0.05) + click(c.rng, 0.05, 2000, 8000, 0.002)
    tock = modal(c.rng, [f2, f2 * 1.6], [0.012, 0.007], [1, 0.5], 0.05) + click(c.rng, 0.05, 1500, 6000, 0.002)
    for k, t in enumerate(np.arange(0.05, s - 0.1, period)):
        place(out, tick if k % 2 == 0 else tock, t)
    return reverb(c.rng, out, c.u(0.3, 1.0), c.u(0.1, 0.3))


@recipe("grandfather_clock", "domestic", "a grandfather clock chimes the hour|an old clock strikes the hour",
        "the chime of a grandfather clock|a clock striking the hour", tags="clock,bell")
def grandfather_clock(c: Ctx) -> np.ndarray:
    k = c.i(2, 6)
    gap = c.u(1.2, 1.8)
    out = np.zeros(ns(k * gap + 3))
    f0 = c.u(250, 450)
    for i in range(k):
        place(out, modal(c.rng, [f0, f0 * 2.0, f0 * 2.8, f0 * 4.1, f0 * 5.4], [2.5, 1.5, 1.0, 0.6, 0.3],
                         [1, 0.6, 0.4, 0.25, 0.1], 3.0), 0.05 + i * gap)
    return reverb(c.rng, out, 1.5, 0.35)


@recipe("keyboard_typing", "domestic", "someone types on a keyboard|fingers tap away at a computer keyboard",
        "keyboard typing|the clatter of typing on a keyboard|keys being typed", cont=True, tags="computer,click,office")
def keyboard_typing(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    t = 0.05
    lo = c.u(800, 2000)
    while t < s - 0.2:
        g = c.u(0.3, 1.0)
        place(out, g * (click(c.rng, 0.03, lo, lo * 4, c.u(0.002, 0.006))
                        + 0.3 * modal(c.rng, [c.u(300, 800)], [0.008], [1], 0.03)), t)
        t += c.u(0.06, 0.25) if c.chance(0.9) else c.u(0.4, 1.0)
        if c.chance(0.03):  # space bar: deeper, longer
            place(out, click(c.rng, 0.05, 200, 2000, 0.01), t)
            t += 0.15
    return _room(c, out, 0, 0.15)


@recipe("typewriter", "domestic", "an old typewriter clacks away|someone types on a typewriter and the bell dings",
        "a clacking typewriter|typewriter keys and the carriage bell", cont=True, tags="office,click")
def typewriter(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 1))
    t = 0.05
    line = 0
    while t < s - 0.5:
        place(out, click(c.rng, 0.05, 400, 5000, 0.006) * c.u(0.6, 1) + 0.4 * modal(c.rng, [c.u(150, 300)], [0.02], [1], 0.05), t)
        t += c.u(0.1, 0.3)
        line += 1
        if line > c.i(15, 40):
            f = c.u(2500, 3500)
            place(out, modal(c.rng, [f, f * 2.7], [0.4, 0.2], [1, 0.3], 0.6), t)
            m = ns(0.4)
            place(out, bandpass(noise(c.rng, m), 300, 3000) * adsr(m, 0.05, 0.1) * 0.5, t + 0.2)
            t += 0.8
            line = 0
    return _room(c, out[: ns(s)], 0, 0.2)


@recipe("mouse_click", "domestic", "a computer mouse clicks|someone clicks a mouse a few times|a mouse double-clicks",
        "mouse clicks|the click of a computer mouse", tags="computer,click")
def mouse_click(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    t = 0.05
    for _ in range(c.i(1, 5)):
        for _ in range(c.pick([1, 2])):
            place(out, click(c.rng, 0.02, c.u(1500, 3000), 9000, 0.0015), t)
            place(out, click(c.rng, 0.02, c.u(1000, 2500), 8000, 0.0015) * 0.5, t + 0.05)
            t += 0.12
        t += c.u(0.2, 0.6)
    return _room(c, out[: ns(t + 0.2)], 0, 0.1)


@recipe("light_switch", "domestic", "a light switch clicks|someone flicks a switch on and off",
        "the click of a light switch|a switch being flicked", tags="click")
def light_switch(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(2))
    t = 0.05
    for _ in range(c.i(1, 3)):
        place(out, click(c.rng, 0.03, c.u(600, 1500), 7000, 0.003) + 0.4 * modal(c.rng, [c.u(1000, 3000)], [0.01], [1], 0.03), t)
        t += c.u(0.3, 0.8)
    return _room(c, out[: ns(t + 0.2)], 0.1, 0.3)


@recipe("pen_click", "domestic", "someone clicks a ballpoint pen over and over|a pen clicks repeatedly",
        "a clicking pen|the click of a ballpoint pen", cont=True, tags="click,office")
def pen_click(c: Ctx) -> np.ndarray:
    s = c.u(3, 7)
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - 0.2:
        place(out, click(c.rng, 0.02, 2000, 9000, 0.001) + 0.3 * modal(c.rng, [c.u(3000, 5000)], [0.005], [1], 0.02), t)
        t += c.u(0.15, 0.6)
    return _room(c, out, 0, 0.1)


@recipe("stapler", "domestic", "someone staples papers together|a stapler crunches down",
        "a stapler|the crunch of a stapler", tags="office,click")
def stapler(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(2.5))
    t = 0.05
    for _ in range(c.i(1, 3)):
        place(out, click(c.rng, 0.05, 500, 6000, 0.006) + 0.5 * modal(c.rng, [c.u(1500, 3000), c.u(4000, 6000)],
                                                                       [0.02, 0.01], [1, 0.5], 0.05), t)
        t += c.u(0.4, 0.8)
    return _room(c, out[: ns(t + 0.2)], 0, 0.2)


@recipe("cash_register", "domestic", "a cash register rings up a sale|the till drawer opens with a ring",
        "a cash register ka-ching|an old till ringing", tags="shop,bell")
def cash_register(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    t = 0.05
    for _ in range(c.i(2, 5)):
        place(out, click(c.rng, 0.04, 600, 5000, 0.005), t)
        t += c.u(0.1, 0.2)
    f = c.u(2000, 3000)
    place(out, modal(c.rng, [f, f * 2.4, f * 3.8], [0.7, 0.3, 0.15], [1, 0.5, 0.3], 1.2), t)
    m = ns(0.3)
    place(out, bandpass(noise(c.rng, m), 200, 3000) * adsr(m, 0.01, 0.1) * 0.5, t + 0.05)
    place(out, lowpass(noise(c.rng, ns(0.1)), 500) * decay(ns(0.1), 0.02), t + 0.35)
    return _room(c, out[: ns(t + 1.2)], 0, 0.2)


@recipe("metronome", "signals", "a metronome ticks steadily|a metronome clicks out the beat",
        "a ticking metronome|the steady click of a metronome", cont=True, tags="click,music")
def metronome(c: Ctx) -> np.ndarray:
    s = c.long()
    bpm = c.u(50, 180)
    accent = c.pick([0, 3, 4])
    out = np.zeros(ns(s))
    f = c.u(1500, 3500)
    for k, t in enumerate(np.arange(0.05, s - 0.1, 60 / bpm)):
        hi = accent and k % accent == 0
        place(out, modal(c.rng, [f * (1.5 if hi else 1)], [0.015], [1], 0.05) + click(c.rng, 0.05, 2000, 8000, 0.001), t)
    return _room(c, out, 0, 0.15)


@recipe("geiger_counter", "signals", "a Geiger counter crackles|a radiation counter clicks faster and faster",
        "a clicking Geiger counter|the crackle of a radiation detector", cont=True, tags="click,electronic")
def geiger_counter(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    rate = c.u(2, 10)
    grow = c.u(1, 5)
    t = 0.0
    while True:
        r = rate * (1 + grow * t / s)
        t += c.rng.exponential(1 / r)
        if t > s - 0.05:
            break
        place(out, click(c.rng, 0.01, 1500, 9000, 0.0008), t)
    return out


@recipe("zipper", "domestic", "someone zips up a jacket|a zipper is pulled open|a zip is done up quickly",
        "a zipper being pulled|the zip of a zipper", tags="clothing")
def zipper(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    t = 0.05
    for _ in range(c.i(1, 2)):
        dur = c.u(0.3, 1.2)
        rate0, rate1 = c.u(40, 120), c.u(80, 300)
        tt = 0.0
        while tt < dur:
            place(out, click(c.rng, 0.008, 1500, 9000, 0.0008) * c.u(0.4, 1), t + tt)
            tt += 1 / (rate0 + (rate1 - rate0) * tt / dur)
        t += dur + c.u(0.2, 0.5)
    return _room(c, out[: ns(t + 0.2)], 0, 0.1)


@recipe("electric_hum", "machines", "electrical equipment hums|a transformer buzzes|a loud mains hum drones",
        "an electrical hum|the buzz of a transformer|mains hum", cont=True, tags="electronic,hum")
def electric_hum(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    f = c.pick([50, 60])
    x = sum(osc(f * k, n, "sine", c.rng) * c.u(0.1, 1) / k for k in range(1, 9))
    return np.tanh(c.u(1, 3) * x) + 0.02 * noise(c.rng, n)


@recipe("electric_spark", "machines", "electricity sparks and crackles|a live wire sparks and buzzes",
        "crackling electric sparks|an electrical short circuit buzzing", tags="electronic")
def electric_spark(c: Ctx) -> np.ndarray:
    s = c.u(1, 4)
    out = np.zeros(ns(s))
    for t in np.sort(c.rng.uniform(0.05, s - 0.1, c.i(5, 40))):
        m = ns(c.u(0.01, 0.12))
        place(out, highpass(noise(c.rng, m), 1500) * (1 + np.sign(np.sin(2 * np.pi * c.pick([100, 120]) * secs(m)))), t)
    return _room(c, out, 0, 0.2)


@recipe("radio_static", "signals", "a radio hisses with static|someone tunes a radio through the static",
        "radio static|the hiss and whine of a radio being tuned", cont=True, tags="radio,electronic")
def radio_static(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = bandpass(noise(c.rng, n), 300, 5000) * am(n, 3, 0.5, c.rng)
    if c.chance(0.6):  # tuning: whistles sliding past
        x += 0.5 * osc(c.u(500, 2000) + 1500 * wander(n, 0.8, c.rng), n, "sine", c.rng) * (am(n, 2, 1.0, c.rng) > 1.3)
    return x


@recipe("tv_static", "signals", "an untuned television hisses with white noise|a TV shows static",
        "TV static|the white-noise hiss of an untuned television", cont=True, tags="electronic")
def tv_static(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    return highpass(noise(c.rng, n), c.u(100, 500)) * (1 + 0.05 * osc(c.u(50, 60), n, "square", c.rng, 8))
