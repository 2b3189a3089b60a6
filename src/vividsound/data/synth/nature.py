"""Recipes: water, rain, wind, fire, thunder, insects and birds, impacts, footsteps, kitchen and crowds."""

from __future__ import annotations

import numpy as np

from vividsound.data.synth.dsp import (SR, adsr, am, bandpass, click, click_bank, decay, highpass, lowpass, mix, modal,
                                       noise, ns, osc, place, reverb, scatter, secs, sweep_filter,
                                       wander)
from vividsound.data.synth.registry import Ctx, recipe


def _room(c: Ctx, x: np.ndarray, lo: float = 0.0, hi: float = 0.3) -> np.ndarray:
    return reverb(c.rng, x, c.u(0.3, 1.2), c.u(lo, hi))


def bubble(c: Ctx, radius_mm: float, gain: float = 1.0) -> np.ndarray:
    """One air bubble in water: a Minnaert-resonance sine whose pitch rises as it decays."""
    f0 = 3260.0 / max(radius_mm, 0.3)  # Minnaert: f ~ 3.26 / r(m) Hz
    tau = 0.003 + 0.0005 * radius_mm * 4
    n = ns(tau * 6)
    t = secs(n)
    f = f0 * (1 + c.u(0.5, 2.0) * t / (tau * 6))
    return gain * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / tau)


def _bubbles(c: Ctx, seconds: float, rate: float, r_lo: float, r_hi: float) -> np.ndarray:
    bank = [bubble(c, r) for r in np.geomspace(r_lo, r_hi, 12) * c.rng.uniform(0.9, 1.1, 12)]
    return scatter(c.rng, seconds, rate, bank, 0.2, 1.0)


# ---- water ----------------------------------------------------------------------------------------

@recipe("tap_running", "water", "water runs from a tap|a faucet is left running|water pours from the kitchen tap into a sink",
        "a running tap|water running from a faucet|the splash of a running tap", cont=True, tags="water,kitchen")
def tap_running(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = bandpass(noise(c.rng, n, "pink"), c.u(300, 800), c.u(5000, 9000)) * am(n, 6, 0.2, c.rng)
    x += 0.6 * _bubbles(c, s, c.u(100, 300), 1, 4)
    return _room(c, x * adsr(n, 0.15, 0.2), 0.1, 0.3)


@recipe("stream", "water", "a stream babbles over stones|a brook trickles through the woods|a small creek gurgles",
        "a babbling brook|a trickling stream|the gurgle of a creek", cont=True, tags="water,river")
def stream(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = _bubbles(c, s, c.u(150, 500), 1.5, 8) + 0.4 * bandpass(noise(c.rng, n, "pink"), 200, 4000) * am(n, 1.5, 0.3, c.rng)
    return x


@recipe("dripping", "water", "water drips steadily|a tap drips into a sink|drops of water fall one by one",
        "dripping water|a dripping tap|water drops falling", cont=True, tags="water,drip")
def dripping(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    period = c.u(0.3, 1.5)
    r = c.u(1.5, 4)
    for t in np.arange(c.u(0, 0.3), s - 0.2, period):
        place(out, mix(bubble(c, r * c.u(0.85, 1.15)), 0.2 * click(c.rng, 0.01, 500, 4000, 0.001)), t + c.u(-0.03, 0.03))
    return reverb(c.rng, out, c.u(0.5, 2.0), c.u(0.2, 0.6))


@recipe("pouring_water", "water", "water is poured into a glass|someone pours a drink, the pitch rising as it fills",
        "water pouring into a glass|the glug of pouring water|a glass being filled", tags="water,kitchen")
def pouring_water(c: Ctx) -> np.ndarray:
    s = c.u(2, 5)
    n = ns(s)
    t = secs(n)
    fill = t / s
    cavity = c.u(300, 700) / np.maximum(1 - 0.8 * fill, 0.2)  # the air column above the water shortens
    x = sweep_filter(noise(c.rng, n, "pink"), cavity, q=c.u(4, 10)) + 0.3 * _bubbles(c, s, 150, 1, 3)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x * adsr(n, 0.1, 0.2), np.zeros(ns(0.3))]))


@recipe("boiling_water", "water", "water boils in a pot|a pan of water bubbles on the stove",
        "boiling water|a pot bubbling on the stove|water at a rolling boil", cont=True, tags="water,kitchen")
def boiling_water(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = _bubbles(c, s, c.u(200, 600), 2, 10) + 0.3 * lowpass(noise(c.rng, n, "brown"), 300)
    x += 0.05 * highpass(noise(c.rng, n), 4000)
    return x


@recipe("splash", "water", "something splashes into water|a stone plops into a pond|something falls into the water",
        "a splash|a plop into water|something splashing into a pool", tags="water,splash")
def splash_synth(c: Ctx) -> np.ndarray:
    big = c.u(0.3, 1.0)
    n = ns(1.5)
    x = bandpass(noise(c.rng, n), 300, 6000) * decay(n, 0.05 + 0.15 * big) * 2
    x += 0.5 * _bubbles(c, 1.5, 60 * big, 2, 12) * decay(n, 0.5)
    x += lowpass(noise(c.rng, n), 300) * decay(n, 0.04) * big * 2
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.2))]))


@recipe("waves", "water", "waves wash onto a beach|the sea rolls onto the shore|surf breaks on the sand",
        "waves breaking on a beach|the wash of the sea|surf on the shore", cont=True, tags="sea,water")
def waves_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    out = np.zeros(n)
    t = c.u(-2, 0)
    while t < s:
        m = ns(c.u(3, 6))
        env = np.concatenate([np.linspace(0, 1, m // 3) ** 2, np.exp(-np.linspace(0, 4, m - m // 3))])
        place(out, bandpass(noise(c.rng, m, "pink"), 100, c.u(3000, 7000)) * env * c.u(0.6, 1), t)
        t += c.u(3, 7)
    return out + 0.15 * lowpass(noise(c.rng, n, "brown"), 300)


@recipe("shower", "water", "a shower runs|someone takes a shower|water sprays from a shower head onto tiles",
        "a running shower|the hiss of a shower|water spraying in a shower", cont=True, tags="water,bathroom")
def shower(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    x = highpass(noise(c.rng, n, "pink"), c.u(300, 800)) * am(n, 3, 0.15, c.rng)
    return reverb(c.rng, x, c.u(0.4, 0.8), 0.4)


@recipe("fountain", "water", "a fountain splashes in a square|water from a fountain patters into its basin",
        "a splashing fountain|a garden fountain", cont=True, tags="water")
def fountain(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = bandpass(noise(c.rng, n, "pink"), 400, 8000) * 0.5 + 0.5 * _bubbles(c, s, 400, 1, 5)
    return reverb(c.rng, x, 1.5, 0.3)


@recipe("toilet", "domestic", "a toilet is flushed|someone flushes the toilet and the cistern refills",
        "a flushing toilet|the rush of a toilet flush", tags="water,bathroom")
def toilet_flush_synth(c: Ctx) -> np.ndarray:
    s = c.u(4, 8)
    n = ns(s)
    t = secs(n)
    rush = bandpass(noise(c.rng, n, "pink"), 150, 4000) * np.exp(-np.maximum(t - 0.3, 0) / c.u(1.0, 2.0)) * adsr(n, 0.1, 0.3)
    swirl = _bubbles(c, s, 150, 2, 8) * np.exp(-t / 2.5)
    refill = bandpass(noise(c.rng, n), 1500, 5000) * 0.2 * (t > c.u(2, 3))
    return reverb(c.rng, np.concatenate([click(c.rng, 0.05, 300, 3000, 0.01), rush + swirl + refill]), 0.6, 0.4)


# ---- rain, wind, fire, thunder --------------------------------------------------------------------

def _rain(c: Ctx, seconds: float, rate: float, bed: float, lo: float, hi: float, thump: float = 0.0) -> np.ndarray:
    n = ns(seconds)
    out = bandpass(noise(c.rng, n, "pink"), lo, hi) * bed * am(n, 0.3, 0.2, c.rng)
    bank = click_bank(c.rng, 8, 0.01, lo, hi, (0.0005, 0.002))
    if thump:
        bank = [mix(b, thump * modal(c.rng, [c.u(150, 400)], [0.02], [1], 0.06)) for b in bank]
    return out + scatter(c.rng, seconds, rate, bank, 0.1, 1.0)


@recipe("rain_light", "weather", "a light rain falls|it drizzles softly|gentle rain patters down",
        "light rain|a gentle drizzle|soft rain pattering", cont=True, tags="rain")
def rain_light(c: Ctx) -> np.ndarray:
    return _rain(c, c.long(), c.u(40, 150), 0.3, 800, 9000)


@recipe("rain_heavy", "weather", "heavy rain pours down|it is pouring with rain|a downpour drums on everything",
        "a heavy downpour|pouring rain|torrential rain", cont=True, tags="rain")
def rain_heavy(c: Ctx) -> np.ndarray:
    return _rain(c, c.long(), c.u(400, 1200), 1.0, 300, 8000)


@recipe("rain_on_roof", "weather", "rain drums on a roof|rain patters on a tin roof|raindrops tap on the roof overhead",
        "rain on a roof|the drumming of rain on a tin roof", cont=True, tags="rain,building")
def rain_on_roof(c: Ctx) -> np.ndarray:
    return _room(c, _rain(c, c.long(), c.u(100, 400), 0.4, 300, 5000, thump=c.u(0.3, 1.0)), 0.1, 0.3)


@recipe("rain_on_window", "weather", "rain taps against a window|raindrops hit the window pane",
        "rain against a window|raindrops on glass", cont=True, tags="rain")
def rain_on_window(c: Ctx) -> np.ndarray:
    x = _rain(c, c.long(), c.u(60, 250), 0.15, 1500, 9000)
    return lowpass(x, c.u(3000, 6000))


@recipe("wind_gusts", "weather", "the wind gusts|strong gusts of wind blow past|wind rises and falls in gusts",
        "gusting wind|strong gusts of wind|a blustery wind", cont=True, tags="wind")
def wind_gusts(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    g = wander(n, c.u(0.3, 0.8), c.rng)
    centre = c.u(300, 700) * (1 + 0.8 * g)
    x = sweep_filter(noise(c.rng, n, "pink"), centre, q=c.u(0.7, 1.5)) * (0.3 + 0.7 * np.clip(g + 0.5, 0, 1.5))
    return x + 0.2 * lowpass(noise(c.rng, n, "brown"), 200)


@recipe("wind_howling", "weather", "the wind howls|a gale howls around the house|wind moans through a gap",
        "a howling wind|the moan of a gale|wind whistling through cracks", cont=True, tags="wind,storm")
def wind_howling(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    g = wander(n, c.u(0.2, 0.6), c.rng)
    centre = c.u(400, 900) * (1 + 0.5 * g)
    x = sweep_filter(noise(c.rng, n), centre, q=c.u(8, 20)) * 3 + 0.5 * sweep_filter(noise(c.rng, n, "pink"), centre * 0.5, 1.0)
    return x * (0.4 + 0.6 * np.clip(g + 0.6, 0, 1.6))


@recipe("breeze", "weather", "a gentle breeze blows|a soft wind breathes through the air",
        "a gentle breeze|a light wind", cont=True, tags="wind")
def breeze(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    return lowpass(noise(c.rng, n, "pink"), c.u(400, 900)) * am(n, 0.4, 0.5, c.rng)


@recipe("leaves_rustling", "weather", "leaves rustle in the wind|the trees rustle in a breeze",
        "rustling leaves|leaves stirring in the wind|the rustle of trees", cont=True, tags="wind,leaves")
def leaves_rustling(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    g = am(n, 0.5, 0.8, c.rng)
    x = scatter(c.rng, s, c.u(300, 1000), click_bank(c.rng, 6, 0.01, 2000, 9000, (0.0007, 0.0015)))
    return x * g + 0.2 * bandpass(noise(c.rng, n, "pink"), 1000, 6000) * g


def _crackle(c: Ctx, seconds: float, rate: float, roar: float, pops: float) -> np.ndarray:
    n = ns(seconds)
    out = lowpass(noise(c.rng, n, "brown"), 300) * roar * am(n, 2, 0.4, c.rng)
    out += scatter(c.rng, seconds, rate, click_bank(c.rng, 6, 0.02, 1000, 9000, (0.0005, 0.002)), 0.05, 1, 2)
    out += scatter(c.rng, seconds, pops, click_bank(c.rng, 3, 0.05, 200, 4000, (0.006, 0.01)), 0.5, 1.5)
    return out


@recipe("campfire", "fire", "a campfire crackles|logs crackle and pop on a fire|a wood fire burns",
        "a crackling campfire|the pop and crackle of burning logs|a burning wood fire", cont=True, tags="fire")
def campfire(c: Ctx) -> np.ndarray:
    return _crackle(c, c.long(), c.u(20, 60), c.u(0.3, 0.8), c.u(0.3, 1.5))


@recipe("fireplace", "fire", "a fire burns quietly in the fireplace|embers crackle softly in a hearth",
        "a cosy fireplace|a fire crackling in a hearth", cont=True, tags="fire")
def fireplace(c: Ctx) -> np.ndarray:
    return _room(c, _crackle(c, c.long(), c.u(5, 20), c.u(0.1, 0.3), c.u(0.1, 0.5)), 0.1, 0.4)


@recipe("bonfire_roar", "fire", "a big bonfire roars|flames roar and crackle in a large fire",
        "a roaring bonfire|the roar of a big fire", cont=True, tags="fire")
def bonfire_roar(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    roar = lowpass(noise(c.rng, n, "pink"), c.u(600, 1500)) * am(n, 1.5, 0.5, c.rng)
    return roar + _crackle(c, s, c.u(60, 150), 0.5, c.u(1, 3))


@recipe("match_strike", "fire", "someone strikes a match and it flares|a match is lit",
        "a match being struck|the scratch and flare of a match", tags="fire")
def match_strike(c: Ctx) -> np.ndarray:
    n1 = ns(c.u(0.1, 0.25))
    scratch = bandpass(noise(c.rng, n1), 1500, 8000) * adsr(n1, 0.01, 0.03)
    n2 = ns(c.u(0.8, 1.5))
    flare = lowpass(noise(c.rng, n2, "pink"), 2500) * np.exp(-secs(n2) / 0.3) * 0.7
    return _room(c, np.concatenate([np.zeros(ns(0.05)), scratch, flare, np.zeros(ns(0.2))]), 0, 0.1)


@recipe("thunder", "weather", "thunder rumbles in the distance|a thunderclap cracks and rolls away|thunder booms overhead",
        "rolling thunder|a crack of thunder|distant rumbling thunder", tags="thunder,storm")
def thunder_synth(c: Ctx) -> np.ndarray:
    s = c.u(4, 9)
    n = ns(s)
    close = c.chance(0.5)
    x = lowpass(noise(c.rng, n, "brown"), c.u(150, 400)) * am(n, 3, 0.7, c.rng)
    env = np.exp(-secs(n) / c.u(1.5, 3.0)) * adsr(n, 0.05 if close else 0.6, 0.5)
    x *= env
    if close:
        crack = highpass(noise(c.rng, ns(0.3)), 800) * decay(ns(0.3), 0.05) * 0.8
        place(x, crack, 0.0)
    return reverb(c.rng, np.concatenate([np.zeros(ns(0.05)), x]), 3.0, 0.3)


@recipe("storm_rain_thunder", "weather", "a thunderstorm rages with heavy rain|rain pours and thunder rolls",
        "a thunderstorm|rain and thunder|a stormy night", cont=True, tags="rain,thunder,storm")
def storm_rain_thunder(c: Ctx) -> np.ndarray:
    s = c.long()
    out = _rain(c, s, c.u(300, 900), 0.8, 300, 8000)
    place(out, thunder_synth(c)[: ns(s)] * c.u(2, 5), c.u(0, s / 2))
    return out


# ---- insects and birds ----------------------------------------------------------------------------

@recipe("crickets", "animal", "crickets chirp at night|crickets sing in the grass",
        "chirping crickets|crickets at night|a chorus of crickets", cont=True, tags="insect,night")
def crickets_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    for _ in range(c.i(1, 6)):
        f = c.u(3500, 5500)
        pulse = c.u(0.012, 0.025)
        chirp = c.i(2, 5)
        t = c.u(0, 0.5)
        while t < s - 0.3:
            for k in range(chirp):
                m = ns(pulse)
                place(out, osc(f, m, "sine", c.rng) * np.sin(np.pi * np.linspace(0, 1, m)) * c.u(0.5, 1), t + k * pulse * 1.6)
            t += c.u(0.3, 0.8)
    return out + 0.02 * lowpass(noise(c.rng, out.size, "pink"), 1500)


@recipe("cicadas", "animal", "cicadas buzz in the summer heat|a cicada drones loudly in a tree",
        "buzzing cicadas|the drone of cicadas", cont=True, tags="insect,summer")
def cicadas(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    f = c.u(4000, 7000)
    x = bandpass(noise(c.rng, n), f * 0.8, f * 1.2) * (1 + 0.8 * np.sin(2 * np.pi * c.u(80, 200) * secs(n)))
    return x * am(n, 0.5, 0.5, c.rng)


@recipe("bee", "animal", "a bee buzzes around|a bumblebee hums past|bees buzz near the flowers",
        "a buzzing bee|the hum of a bumblebee", cont=True, tags="insect")
def bee_buzz(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 8))
    f = c.u(150, 260) * (1 + 0.08 * wander(n, 2, c.rng))
    x = osc(f, n, "saw", c.rng, 30) * am(n, 1.5, 0.8, c.rng)
    return lowpass(x, 4000) * adsr(n, 0.3, 0.5)


@recipe("fly_buzz", "animal", "a fly buzzes around the room|a housefly buzzes and bumps the window",
        "a buzzing fly|a housefly buzzing", cont=True, tags="insect")
def fly_buzz(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 8))
    f = c.u(180, 350) * (1 + 0.15 * wander(n, 3, c.rng))
    gate = (wander(n, 1.5, c.rng) > -0.6).astype(float)
    gate = np.convolve(gate, np.ones(500) / 500, mode="same")
    return lowpass(osc(f, n, "saw", c.rng, 40), 5000) * gate * am(n, 3, 0.6, c.rng)


@recipe("mosquito", "animal", "a mosquito whines near your ear|a mosquito buzzes in the dark",
        "a whining mosquito|the high whine of a mosquito", cont=True, tags="insect")
def mosquito_synth(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 7))
    f = c.u(450, 700) * (1 + 0.05 * wander(n, 2, c.rng))
    return osc(f, n, "saw", c.rng, 15) * am(n, 2, 0.9, c.rng) * adsr(n, 0.5, 0.5)


@recipe("cuckoo", "animal", "a cuckoo calls in the woods|a cuckoo sings its two notes",
        "a cuckoo calling|the cuck-oo of a cuckoo bird", cont=True, tags="bird")
def cuckoo(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(600, 800)
    out = np.zeros(ns(s))
    for t in np.arange(c.u(0.1, 0.5), s - 1, c.u(0.8, 1.5)):
        for k, (fr, d) in enumerate(((f, 0.18), (f * 0.8, 0.3))):
            m = ns(d)
            place(out, osc(fr * np.linspace(1.02, 1, m), m, "sine", c.rng) * np.sin(np.pi * np.linspace(0, 1, m)) ** 0.5,
                  t + k * 0.25)
    return reverb(c.rng, out, 1.5, 0.4) + 0.02 * lowpass(noise(c.rng, out.size, "pink"), 2000)


@recipe("owl", "animal", "an owl hoots at night|a tawny owl calls in the dark",
        "an owl hooting|the hoot of an owl at night", cont=True, tags="bird,night")
def owl_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(350, 550)
    out = np.zeros(ns(s))
    t = c.u(0.1, 1)
    while t < s - 1.5:
        for d in (c.u(0.3, 0.5), 0.15, c.u(0.5, 0.9)):
            m = ns(d)
            place(out, osc(f * (1 + 0.05 * np.sin(np.pi * np.linspace(0, 1, m))), m, "sine", c.rng) * adsr(m, 0.05, 0.1)
                  + 0.05 * bandpass(noise(c.rng, m), 300, 1000), t)
            t += d + 0.1
        t += c.u(1.5, 3)
    return reverb(c.rng, out, 2.0, 0.5)


@recipe("birds", "animal", "a songbird sings|a small bird chirps and trills|a bird sings in a tree",
        "birdsong|a singing bird|chirps and trills of a small bird", cont=True, tags="bird")
def songbird(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    motifs = [[(c.u(2500, 6000), c.u(-3000, 3000), c.u(0.03, 0.12)) for _ in range(c.i(2, 6))] for _ in range(3)]
    t = c.u(0, 0.5)
    while t < s - 1:
        for f, slope, d in c.pick(motifs):
            m = ns(d)
            fr = np.clip(f + slope * secs(m) / d * 0.5, 1500, 9000)
            place(out, osc(fr, m, "sine", c.rng) * np.sin(np.pi * np.linspace(0, 1, m)) * c.u(0.5, 1), t)
            t += d + c.u(0.01, 0.06)
        t += c.u(0.3, 1.5)
    return reverb(c.rng, out, 1.0, 0.3) + 0.02 * lowpass(noise(c.rng, out.size, "pink"), 3000)


@recipe("woodpecker", "animal", "a woodpecker drums on a tree|a woodpecker hammers at the bark",
        "a drumming woodpecker|the rapid knocking of a woodpecker", tags="bird,wood")
def woodpecker(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(4))
    t = 0.05
    for _ in range(c.i(1, 3)):
        rate = c.u(12, 25)
        f = c.u(500, 1200)
        for k in range(c.i(8, 25)):
            place(out, modal(c.rng, [f, f * 2.3], [0.02, 0.01], [1, 0.4], 0.05) * (1 - k * 0.02), t)
            t += 1 / rate
        t += c.u(0.4, 1.0)
    return reverb(c.rng, out[: ns(t + 0.3)], 1.5, 0.4)


@recipe("frog", "animal", "frogs croak by a pond|a chorus of frogs calls at night",
        "croaking frogs|a pond full of frogs", cont=True, tags="frog,night")
def frogs_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    for _ in range(c.i(1, 5)):
        f = c.u(150, 600)
        rate = c.u(30, 90)
        t = c.u(0, 1)
        while t < s - 0.5:
            m = ns(c.u(0.1, 0.4))
            tt = secs(m)
            pulses = np.maximum(0, np.sin(2 * np.pi * rate * tt)) ** 4
            place(out, bandpass(osc(f, m, "saw", c.rng, 20), f * 0.8, f * 6) * pulses * adsr(m, 0.01, 0.03) * c.u(0.3, 1), t)
            t += c.u(0.3, 1.2)
    return out + 0.02 * lowpass(noise(c.rng, out.size, "pink"), 1000)


# ---- impacts --------------------------------------------------------------------------------------

def _wood_knock(c: Ctx, f: float) -> np.ndarray:
    return modal(c.rng, [f, f * 2.1, f * 3.7], [0.03, 0.02, 0.01], [1, 0.5, 0.3], 0.12, detune=0.03) \
        + 0.3 * click(c.rng, 0.12, 200, 3000, 0.004)


@recipe("knock", "domestic", "someone knocks on a door|there is a knock at the door|a visitor raps on the front door",
        "knocking on a door|a knock at the door|knuckles rapping on wood", tags="door,knock")
def door_knock(c: Ctx) -> np.ndarray:
    f = c.u(120, 300)
    out = np.zeros(ns(4))
    t = 0.05
    for _ in range(c.i(1, 2)):
        for _ in range(c.i(2, 5)):
            place(out, _wood_knock(c, f * c.u(0.95, 1.05)) * c.u(0.7, 1), t)
            t += c.u(0.12, 0.3)
        t += c.u(0.6, 1.2)
    return _room(c, out[: ns(t)], 0.1, 0.4)


@recipe("door_slam", "domestic", "a door slams shut|someone slams a door|a door bangs closed",
        "a door slamming|the bang of a slammed door", tags="door,impact")
def door_slam(c: Ctx) -> np.ndarray:
    n = ns(0.8)
    mass = c.u(0.5, 2.0)  # a light interior door to a heavy front door
    x = lowpass(noise(c.rng, n), c.u(300, 1200) / mass ** 0.5) * decay(n, c.u(0.03, 0.1) * mass ** 0.5) * 3
    x += modal(c.rng, [c.u(60, 160) / mass ** 0.3, c.u(200, 450), c.u(600, 1200)], [0.15 * mass, 0.08, 0.04],
               [1, c.u(0.3, 0.8), c.u(0.1, 0.4)], 0.8)
    if c.chance(0.6):  # the latch, and the frame or a window rattling after
        x += c.u(0.1, 0.4) * click(c.rng, 0.8, 2000, 6000, c.u(0.005, 0.03))
        x += c.u(0.05, 0.2) * scatter(c.rng, 0.8, c.u(20, 60), click_bank(c.rng, 3, 0.01, 1500, 6000, (0.001, 0.003)))
    return reverb(c.rng, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.8))]), c.u(0.3, 2.0), c.u(0.1, 0.6))


@recipe("door_creak", "domestic", "a door creaks open slowly|an old door creaks on its hinges",
        "a creaking door|the creak of old hinges", tags="door,creak")
def door_creak(c: Ctx) -> np.ndarray:
    n = ns(c.u(1.0, 3.0))
    f = c.u(150, 500) * (1 + 0.3 * wander(n, 2, c.rng))
    rate = c.u(30, 120) * (1 + 0.5 * wander(n, 1.5, c.rng))  # stick-slip pulses
    ph = np.cumsum(rate) / SR
    pulses = np.maximum(0, np.sin(2 * np.pi * ph)) ** 8
    x = bandpass(osc(f, n, "saw", c.rng, 30) * pulses, 200, 4000) * adsr(n, 0.1, 0.2)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.3))]), 0.1, 0.4)


@recipe("glass_breaking", "impacts", "a glass shatters|a window smashes|a bottle breaks on the floor",
        "breaking glass|the smash of a window|glass shattering", tags="glass,impact")
def glass_breaking(c: Ctx) -> np.ndarray:
    s = c.u(1.0, 2.5)
    out = np.zeros(ns(s + 1))
    place(out, highpass(noise(c.rng, ns(0.2)), 1500) * decay(ns(0.2), 0.03) * 2, 0.05)
    for t in 0.05 + np.sort(c.rng.exponential(c.u(0.1, 0.4), c.i(20, 80))):
        f = c.u(2500, 9000)
        place(out, modal(c.rng, [f, f * 1.6, f * 2.3], [0.05, 0.03, 0.02], [1, 0.6, 0.4], 0.15) * c.u(0.05, 0.6), t)
    return _room(c, out[: ns(s + 0.5)], 0.1, 0.4)


@recipe("glass", "domestic", "glasses clink in a toast|two wine glasses touch with a clink",
        "clinking glasses|a toast with clinking wine glasses", tags="glass,kitchen")
def glass_clink(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    t = 0.05
    for _ in range(c.i(1, 3)):
        for f in (c.u(1500, 3500), c.u(1500, 3500)):
            place(out, modal(c.rng, [f, f * 2.3, f * 4.1], [0.6, 0.2, 0.08], [1, 0.4, 0.2], 1.2), t)
            t += c.u(0.003, 0.015)
        t += c.u(0.3, 0.7)
    return _room(c, out[: ns(t + 1.0)], 0.1, 0.3)


@recipe("hammering_nail", "tools", "someone hammers a nail into wood|a hammer bangs a nail in",
        "hammering a nail|the tap-tap of a hammer on a nail", cont=True, tags="hammer,tools")
def hammering_nail(c: Ctx) -> np.ndarray:
    s = c.u(2, 7)
    out = np.zeros(ns(s + 0.5))
    f = c.u(1800, 3500)
    k, t = 0, 0.05
    while t < s - 0.3:
        sink = 1 - min(k, 10) * 0.04  # the nail goes in: the ring drops
        place(out, modal(c.rng, [f * sink, f * 2.7 * sink, c.u(150, 300)], [0.05, 0.02, 0.03], [0.6, 0.3, 1], 0.15)
              + click(c.rng, 0.15, 300, 5000, 0.004), t)
        t += c.u(0.35, 0.8)
        k += 1
    return _room(c, out, 0.1, 0.4)


@recipe("ball_bounce", "impacts", "a ball bounces and comes to rest|a rubber ball bounces on the floor",
        "a bouncing ball|a ball bouncing to a stop", tags="ball,toy")
def ball_bounce(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(4))
    t, gap, g = 0.05, c.u(0.4, 0.8), 1.0
    f = c.u(150, 500)
    while gap > 0.03 and t < 3.5:
        place(out, modal(c.rng, [f, f * 2.4], [0.03, 0.015], [1, 0.4], 0.1) * g + click(c.rng, 0.1, 200, 3000, 0.003) * g, t)
        t += gap
        gap *= c.u(0.7, 0.85)
        g *= 0.85
    return _room(c, out[: ns(t + 0.3)], 0.1, 0.4)


@recipe("basketball_dribble", "impacts", "someone dribbles a basketball|a basketball bounces on a court",
        "a basketball being dribbled|the thump of a bouncing basketball", cont=True, tags="ball,sport")
def basketball_dribble(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    out = np.zeros(ns(s))
    period = c.u(0.4, 0.7)
    f = c.u(100, 180)
    for t in np.arange(0.05, s - 0.3, period):
        place(out, modal(c.rng, [f, f * 2.9, f * 5.2], [0.05, 0.02, 0.01], [1, 0.5, 0.3], 0.2), t + c.u(-0.02, 0.02))
    return reverb(c.rng, out, c.u(1.0, 2.5), c.u(0.3, 0.5))


@recipe("ping_pong", "impacts", "a ping pong ball is hit back and forth|two people play table tennis",
        "a table tennis rally|ping pong", cont=True, tags="ball,sport")
def ping_pong(c: Ctx) -> np.ndarray:
    s = c.u(4, 9)
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - 0.3:
        place(out, mix(modal(c.rng, [c.u(2500, 4000)], [0.006], [1], 0.03), click(c.rng, 0.03, 1500, 7000, 0.002)), t)
        t += c.u(0.15, 0.25)
        place(out, mix(modal(c.rng, [c.u(900, 1500)], [0.012], [1], 0.04) * 0.8, click(c.rng, 0.03, 600, 4000, 0.003)), t)
        t += c.u(0.35, 0.6)
    return reverb(c.rng, out, 1.5, 0.4)


@recipe("balloon_pop", "impacts", "a balloon pops|someone bursts a balloon with a bang",
        "a popping balloon|the bang of a burst balloon", tags="impact,toy")
def balloon_pop(c: Ctx) -> np.ndarray:
    n = ns(0.3)
    x = (noise(c.rng, n) * decay(n, c.u(0.005, 0.015)) * 3 + lowpass(noise(c.rng, n), 400) * decay(n, 0.02))
    return reverb(c.rng, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.6))]), c.u(0.5, 1.5), 0.4)


@recipe("popcorn", "domestic", "popcorn pops in a pan|corn kernels pop in the microwave",
        "popping popcorn|popcorn popping", cont=True, tags="kitchen")
def popcorn(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    peak = c.u(0.4, 0.7) * s
    for t in c.rng.normal(peak, s / 4, c.i(30, 120)):
        if 0.05 < t < s - 0.1:
            place(out, click(c.rng, 0.04, 300, 5000, c.u(0.003, 0.008)) * c.u(0.3, 1), t)
    return _room(c, out + 0.05 * lowpass(noise(c.rng, out.size, "pink"), 2000), 0, 0.2)


@recipe("frying", "domestic", "food sizzles in a frying pan|bacon fries and spits in a pan",
        "sizzling food in a pan|the sizzle of frying|oil spitting in a pan", cont=True, tags="kitchen")
def frying(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = highpass(noise(c.rng, n), c.u(2000, 4000)) * 0.5 * am(n, 2, 0.3, c.rng)
    return x + scatter(c.rng, s, c.u(20, 80), click_bank(c.rng, 4, 0.01, 2000, 9000, (0.0008, 0.0012)), 0.5, 2)


@recipe("chopping_vegetables", "domestic", "someone chops vegetables on a board|a knife chops quickly on a cutting board",
        "chopping on a cutting board|a knife chopping vegetables", cont=True, tags="kitchen,knife")
def chopping_vegetables(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    out = np.zeros(ns(s))
    t = 0.05
    f = c.u(300, 700)
    while t < s - 0.2:
        place(out, mix(modal(c.rng, [f, f * 2.2], [0.02, 0.01], [1, 0.4], 0.06), 0.5 * click(c.rng, 0.03, 1000, 6000, 0.003)), t)
        t += c.u(0.12, 0.35)
    return _room(c, out, 0.1, 0.3)


@recipe("cutlery_clatter", "domestic", "cutlery clatters into a drawer|knives and forks clink together",
        "clattering cutlery|the clink of knives and forks", tags="kitchen,metal")
def cutlery_clatter(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(2.5))
    for t in 0.05 + np.sort(c.rng.exponential(0.2, c.i(6, 25))):
        f = c.u(1500, 5000)
        place(out, modal(c.rng, [f, f * 2.6, f * 4.3], [0.2, 0.1, 0.05], [1, 0.5, 0.3], 0.4) * c.u(0.2, 1), t)
    return _room(c, out, 0.1, 0.3)


@recipe("keys_jingle", "domestic", "someone jingles a bunch of keys|keys rattle on a key ring",
        "jingling keys|a rattling bunch of keys", tags="metal")
def keys_jingle(c: Ctx) -> np.ndarray:
    s = c.u(0.8, 2.5)
    out = np.zeros(ns(s + 0.5))
    for t in np.sort(c.rng.uniform(0.05, s, c.i(15, 60))):
        f = c.u(3000, 8000)
        place(out, modal(c.rng, [f, f * 1.7], [0.06, 0.03], [1, 0.5], 0.15) * c.u(0.1, 1), t)
    return _room(c, out, 0, 0.2)


@recipe("coin_drop", "domestic", "a coin drops and spins on a table|a coin falls and rattles to a stop",
        "a dropped coin spinning|the rattle of a coin settling", tags="metal,coins")
def coin_drop(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    f = c.u(4000, 8000)
    t, gap = 0.05, c.u(0.05, 0.1)
    while gap > 0.004 and t < 2.5:
        place(out, modal(c.rng, [f, f * 1.5, f * 2.2], [0.15, 0.08, 0.05], [1, 0.5, 0.3], 0.3) * 0.5, t)
        t += gap
        gap *= c.u(0.88, 0.95)
    return _room(c, out[: ns(t + 0.4)], 0, 0.2)


@recipe("paper_crumple", "domestic", "someone crumples a sheet of paper|paper is scrunched into a ball",
        "crumpling paper|the crinkle of scrunched paper", tags="paper")
def paper_crumple(c: Ctx) -> np.ndarray:
    s = c.u(1, 3)
    out = scatter(c.rng, s, c.u(100, 300), click_bank(c.rng, 6, 0.01, 1000, 9000, (0.0005, 0.003)))
    return _room(c, out * adsr(out.size, 0.05, 0.1), 0, 0.2)


@recipe("paper_tear", "domestic", "a sheet of paper is torn in half|someone rips a piece of paper",
        "paper tearing|the rip of a sheet of paper", tags="paper")
def paper_tear(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.3, 1.2))
    x = bandpass(noise(c.rng, n), 800, 8000) * am(n, 40, 0.9, c.rng) * adsr(n, 0.02, 0.05)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.2))]), 0, 0.2)


@recipe("can_opening", "domestic", "a can of soda is cracked open and fizzes|someone opens a fizzy drink",
        "a can opening with a fizz|the hiss of a soda can", tags="kitchen,drink")
def can_opening(c: Ctx) -> np.ndarray:
    parts = [np.zeros(ns(0.05))]
    if c.chance(0.5):  # the tab lifted first
        parts += [click(c.rng, 0.04, 1500, 7000, 0.002) * 0.5, np.zeros(ns(c.u(0.05, 0.2)))]
    parts.append(click(c.rng, 0.05, c.u(300, 1200), 6000, c.u(0.002, 0.008)) * 2)
    n = ns(c.u(0.5, 3))
    fizz = highpass(noise(c.rng, n), c.u(2000, 5000)) * np.exp(-secs(n) / c.u(0.15, 1.2)) * c.u(0.1, 0.6)
    fizz += scatter(c.rng, n / SR, c.u(20, 200), click_bank(c.rng, 3, 0.005, 4000, 9000, (0.0004, 0.0006)), 0.3, 0.5)[: fizz.size]
    parts += [fizz, np.zeros(ns(0.2))]
    return _room(c, np.concatenate(parts), 0, 0.3)


@recipe("cork_pop", "domestic", "a champagne cork pops|a bottle of wine is uncorked",
        "a popping cork|the pop of a champagne bottle", tags="drink,bottle")
def cork_pop(c: Ctx) -> np.ndarray:
    n = ns(0.2)
    f = c.u(400, 900)
    x = osc(f * np.linspace(1.3, 1, n), n, "sine", c.rng) * decay(n, 0.02) + noise(c.rng, n) * decay(n, 0.005)
    if c.chance(0.6):
        m = ns(c.u(0.5, 1.5))
        x = np.concatenate([x, highpass(noise(c.rng, m), 2500) * np.exp(-secs(m) / 0.5) * 0.2])
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.3))]))


@recipe("spray_can", "domestic", "someone sprays an aerosol can|a spray can hisses in short bursts",
        "an aerosol spray|the hiss of a spray can", tags="hiss")
def spray_can(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(5))
    t = 0.05
    for _ in range(c.i(1, 3)):
        m = ns(c.u(0.3, 1.5))
        place(out, highpass(noise(c.rng, m), c.u(2500, 5000)) * adsr(m, 0.02, 0.05), t)
        t += m / SR + c.u(0.2, 0.6)
    return out[: ns(t + 0.2)]


@recipe("steam_hiss", "machines", "steam hisses from a valve|a pipe vents steam with a loud hiss",
        "hissing steam|a steam vent|the hiss of escaping steam", cont=True, tags="hiss,steam")
def steam_hiss(c: Ctx) -> np.ndarray:
    n = ns(c.u(2, 7))
    return _room(c, bandpass(noise(c.rng, n), c.u(1500, 3000), 10000) * am(n, 1, 0.3, c.rng) * adsr(n, 0.1, 0.5))


@recipe("air_leak", "machines", "air hisses out of a tyre|a tyre slowly goes flat with a hiss",
        "air hissing from a tyre|a slow air leak", tags="hiss")
def air_leak(c: Ctx) -> np.ndarray:
    n = ns(c.u(1.5, 5))
    x = bandpass(noise(c.rng, n), c.u(2000, 4000), 9000) * np.exp(-secs(n) / c.u(1, 4)) * adsr(n, 0.02, 0.2)
    return np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.2))])


# ---- footsteps ------------------------------------------------------------------------------------

_SURFACES = {  # surface: (low, high Hz, decay s, grit rate, modal hz or 0)
    "wood": (150, 3000, 0.03, 0, 180), "concrete": (300, 6000, 0.012, 0, 0), "gravel": (500, 8000, 0.02, 600, 0),
    "snow": (300, 4000, 0.05, 300, 0), "grass": (800, 7000, 0.04, 250, 0), "leaves": (1500, 9000, 0.06, 500, 0),
    "metal": (300, 6000, 0.02, 0, 900), "tile": (600, 7000, 0.01, 0, 1500), "mud": (100, 1500, 0.06, 40, 0),
    "sand": (400, 5000, 0.05, 400, 0),
}
_SURF_WORDS = {"wood": "a wooden floor", "concrete": "concrete", "gravel": "gravel", "snow": "snow", "grass": "grass",
               "leaves": "dry leaves", "metal": "a metal floor", "tile": "a tiled floor", "mud": "mud", "sand": "sand"}


def _step(c: Ctx, surface: str, heel: bool) -> np.ndarray:
    lo, hi, tau, grit, mode = _SURFACES[surface]
    n = ns(max(0.15, tau * 5))
    x = bandpass(noise(c.rng, n), lo, hi) * decay(n, tau) * (1.0 if heel else 0.6)
    if mode:
        x += 0.6 * modal(c.rng, [mode * c.u(0.9, 1.1), mode * 2.3], [0.04, 0.02], [1, 0.4], n / SR)[:n]
    if grit:
        x += scatter(c.rng, n / SR, grit, c.grit_bank, 0.1, 0.5)[:n]
    return x


def _footsteps(surface: str):
    def fn(c: Ctx) -> np.ndarray:
        s = c.long()
        c.grit_bank = click_bank(c.rng, 4, 0.005, 1500, 9000, (0.0004, 0.0008))
        out = np.zeros(ns(s + 0.5))
        pace = c.u(0.4, 0.65) if c.chance(0.8) else c.u(0.25, 0.35)
        t = c.u(0.05, 0.3)
        while t < s - 0.3:
            place(out, _step(c, surface, True), t)
            place(out, _step(c, surface, False), t + c.u(0.03, 0.08))
            t += pace * c.u(0.92, 1.08)
        return reverb(c.rng, out[: ns(s)], c.u(0.3, 1.5), c.u(0.05, 0.35))
    return fn


for _surf, _words in _SURF_WORDS.items():
    recipe(f"footsteps_{_surf}", "footsteps",
           f"someone walks on {_words}|footsteps cross {_words}|a person walks across {_words}",
           f"footsteps on {_words}|walking on {_words}|steps on {_words}", cont=True,
           tags=f"footsteps,{_surf}")(_footsteps(_surf))


@recipe("high_heels", "footsteps", "someone walks in high heels|heels click across a hard floor",
        "clicking high heels|footsteps in high heels", cont=True, tags="footsteps")
def high_heels(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    for t in np.arange(c.u(0.05, 0.3), s - 0.2, c.u(0.4, 0.6)):
        place(out, mix(click(c.rng, 0.06, 1500, 8000, 0.004), 0.5 * modal(c.rng, [c.u(1500, 3000)], [0.01], [1], 0.04)), t)
    return reverb(c.rng, out, c.u(0.8, 2.0), c.u(0.3, 0.5))


@recipe("stairs_climbing", "footsteps", "someone climbs wooden stairs|footsteps go up a creaky staircase",
        "footsteps on stairs|someone walking up the stairs", cont=True, tags="footsteps,stairs")
def stairs_climbing(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    c.grit_bank = []
    for k, t in enumerate(np.arange(c.u(0.05, 0.3), s - 0.3, c.u(0.45, 0.7))):
        place(out, _step(c, "wood", True) * (0.6 + 0.04 * k), t)
        if c.chance(0.25):
            place(out, door_creak(c)[: ns(0.4)] * 0.2, t + 0.05)
    return reverb(c.rng, out, c.u(0.5, 1.2), 0.3)


# ---- people ---------------------------------------------------------------------------------------

def _clap(c: Ctx) -> np.ndarray:
    return bandpass(noise(c.rng, ns(0.05)), c.u(600, 1200), c.u(2500, 6000)) * decay(ns(0.05), c.u(0.004, 0.01))


@recipe("applause", "crowd", "an audience applauds|a crowd claps enthusiastically|people clap and applaud",
        "applause|a round of applause|a clapping audience", cont=True, tags="applause,crowd")
def applause_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    people = c.i(15, 80)
    for _ in range(people):
        rate = c.u(3, 6)
        t = c.u(0, 0.8)
        end = s - c.u(0, 1.5)
        while t < end:
            place(out, _clap(c) * c.u(0.2, 1), t)
            t += 1 / rate * c.u(0.9, 1.1)
    return reverb(c.rng, out * adsr(out.size, 0.4, 1.0), c.u(1, 2.5), c.u(0.2, 0.5))


@recipe("single_clapping", "crowd", "one person claps slowly|someone claps their hands a few times",
        "a single person clapping|slow hand claps", tags="applause")
def single_clapping(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(5))
    t = 0.05
    for _ in range(c.i(2, 8)):
        place(out, _clap(c), t)
        t += c.u(0.25, 0.7)
    return reverb(c.rng, out[: ns(t + 0.3)], c.u(0.5, 2), 0.4)


@recipe("finger_snap", "crowd", "someone snaps their fingers|fingers snap in a rhythm",
        "finger snapping|the snap of fingers", tags="snap")
def finger_snap(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(4))
    t = 0.05
    period = c.u(0.4, 0.8)
    for _ in range(c.i(1, 6)):
        place(out, bandpass(noise(c.rng, ns(0.03)), 1500, 7000) * decay(ns(0.03), 0.003) * 2, t)
        t += period
    return _room(c, out[: ns(t)], 0.1, 0.4)


@recipe("heartbeat", "domestic", "a heart beats steadily|a heartbeat thumps lub-dub",
        "a beating heart|the lub-dub of a heartbeat", cont=True, tags="heartbeat,body")
def heartbeat_synth(c: Ctx) -> np.ndarray:
    s = c.long()
    bpm = c.u(55, 130)
    out = np.zeros(ns(s))
    f = c.u(40, 70)
    for t in np.arange(c.u(0.05, 0.3), s - 0.5, 60 / bpm):
        for dt, g in ((0, 1.0), (c.u(0.22, 0.32), 0.7)):
            m = ns(0.12)
            place(out, osc(f * np.linspace(1.3, 1, m), m, "sine", c.rng) * decay(m, 0.03) * g, t + dt)
    return lowpass(out, 200)
