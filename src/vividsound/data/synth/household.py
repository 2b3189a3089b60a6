"""Recipes: more household, street and body sounds (phones on tables, small appliances, chores, sleep)."""

from __future__ import annotations

import numpy as np

from vividsound.data.synth.dsp import (SR, adsr, am, bandpass, click, click_bank, decay, highpass, lowpass, mix,
                                       modal, noise, ns, osc, place, reverb, scatter, secs, wander)
from vividsound.data.synth.registry import Ctx, recipe


def _room(c: Ctx, x: np.ndarray, lo: float = 0.0, hi: float = 0.3) -> np.ndarray:
    return reverb(c.rng, x, c.u(0.3, 1.2), c.u(lo, hi))


def _strokes(c: Ctx, seconds: float, period: tuple[float, float], lo: float, hi: float, duty: float = 0.8) -> np.ndarray:
    """Back-and-forth noise strokes (brushing, sanding, sweeping)."""
    out = np.zeros(ns(seconds))
    t = 0.05
    k = 0
    while t < seconds - 0.2:
        p = c.u(*period)
        m = ns(p * duty)
        g = np.sin(np.pi * np.linspace(0, 1, m)) ** 0.7 * (1.0 if k % 2 == 0 else c.u(0.5, 0.9))
        place(out, bandpass(noise(c.rng, m), lo * c.u(0.8, 1.2), hi) * g, t)
        t += p
        k += 1
    return out


@recipe("fireworks", "impacts", "fireworks whistle up and burst|fireworks bang and crackle in the sky",
        "a fireworks display|fireworks bursting overhead|bangs and crackles of fireworks", cont=True, tags="explosion")
def fireworks(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 3))
    t = c.u(0, 0.5)
    while t < s - 1.5:
        rise = c.u(0.6, 1.6)
        if c.chance(0.6):  # a whistling rocket
            m = ns(rise)
            place(out, osc(np.linspace(c.u(600, 1200), c.u(1800, 3500), m), m, "sine", c.rng) * 0.2 * adsr(m, 0.1, 0.05), t)
        bang = lowpass(noise(c.rng, ns(1.5)), c.u(300, 1200)) * decay(ns(1.5), c.u(0.1, 0.3)) * c.u(1, 2)
        place(out, bang, t + rise)
        if c.chance(0.6):  # crackle after the burst
            place(out, scatter(c.rng, 1.5, c.u(40, 120), click_bank(c.rng, 4, 0.02, 1500, 9000, (0.001, 0.003)),
                               0.1, 0.6), t + rise + 0.2)
        t += c.u(0.4, 2.0)
    return reverb(c.rng, out[: ns(s)], c.u(2, 4), c.u(0.3, 0.6))


@recipe("car_crash", "impacts", "two cars crash into each other|a car slams into something with crunching metal",
        "a car crash|the crunch of a collision|metal and glass in a car crash", tags="car,impact,glass")
def car_crash(c: Ctx) -> np.ndarray:
    s = c.u(2.5, 5)
    out = np.zeros(ns(s + 1))
    t0 = 0.05
    if c.chance(0.5):  # skidding first
        m = ns(c.u(0.5, 1.5))
        place(out, np.tanh(2 * osc(c.u(800, 1400) * (1 + 0.05 * wander(m, 6, c.rng)), m, "saw", c.rng, 8)) * 0.4
              * adsr(m, 0.05, 0.05), t0)
        t0 += m / SR
    place(out, lowpass(noise(c.rng, ns(0.6)), 1200) * decay(ns(0.6), 0.08) * 3, t0)
    for t in t0 + np.sort(c.rng.exponential(0.3, c.i(15, 50))):
        f = c.u(300, 6000)
        place(out, modal(c.rng, [f, f * 1.7, f * 2.9], [0.1, 0.05, 0.03], [1, 0.5, 0.3], 0.3) * c.u(0.05, 0.5), t)
    return _room(c, out[: ns(s)], 0.1, 0.3)


@recipe("phone_vibrating", "domestic", "a phone vibrates on a table|a mobile buzzes on the desk",
        "a phone vibrating on a table|the buzz of a phone on silent", cont=True, tags="telephone,buzz")
def phone_vibrating(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    f = c.u(140, 220)
    on, off = c.u(0.4, 1.0), c.u(0.3, 1.0)
    t = 0.05
    while t < s - on:
        m = ns(on)
        buzz = osc(f * (1 + 0.02 * wander(m, 4, c.rng)), m, "square", c.rng, 25)
        rattle = bandpass(noise(c.rng, m), 1500, 6000) * (np.sin(2 * np.pi * f * secs(m)) > 0.8)
        place(out, (0.6 * buzz + rattle) * adsr(m, 0.01, 0.02), t)
        t += on + off
    return _room(c, out, 0, 0.15)


@recipe("notification_chime", "signals", "a phone plays a notification chime|a message alert dings on a phone",
        "a notification sound|a phone's message ding", tags="telephone,beep")
def notification_chime(c: Ctx) -> np.ndarray:
    root = c.u(700, 1600)
    notes = [root * 2 ** (k / 12) for k in c.pick([[0, 7], [0, 4, 7], [7, 0], [0, 12], [0, 5, 9]])]
    out = np.zeros(ns(2))
    for i, f in enumerate(notes):
        place(out, modal(c.rng, [f, f * 2, f * 3], [0.4, 0.15, 0.06], [1, 0.3, 0.1], 0.8), 0.05 + i * c.u(0.08, 0.15))
    return _room(c, out, 0, 0.2)


@recipe("dishwasher", "domestic", "a dishwasher sloshes and hums|the dishwasher runs its wash cycle",
        "a running dishwasher|the swish and hum of a dishwasher", cont=True, tags="machine,kitchen,water")
def dishwasher(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    depth = c.u(0.2, 1.0)  # how strongly the spray arm's sweep is heard
    sweep = 1 - depth + depth * np.sin(2 * np.pi * secs(n) / c.u(0.7, 3)) ** 2
    spray = bandpass(noise(c.rng, n, "pink"), c.u(150, 600), c.u(2500, 6000)) * sweep
    hum = osc(c.pick([50, 60]) * c.i(1, 3), n, "sine", c.rng) * c.u(0.03, 0.3) + c.u(0.05, 0.3) * lowpass(
        noise(c.rng, n, "brown"), 200)
    x = lowpass(spray, c.u(800, 4000)) + hum
    if c.chance(0.5):  # dishes rattle now and then
        x += scatter(c.rng, n / SR, c.u(0.5, 3), [modal(c.rng, [c.u(1500, 4000)], [0.08], [1], 0.2)], 0.05, 0.3)
    return _room(c, x, 0.1, 0.3)


@recipe("electric_toothbrush", "domestic", "an electric toothbrush buzzes|someone brushes with an electric toothbrush",
        "a buzzing electric toothbrush|an electric toothbrush running", cont=True, tags="machine,bathroom")
def electric_toothbrush(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 8))
    f = c.u(200, 300) * (1 - 0.05 * (wander(n, 1.5, c.rng) > 0.4))  # loaded when it touches the teeth
    x = osc(f, n, "square", c.rng, 20) * 0.5 + 0.3 * bandpass(noise(c.rng, n), 2000, 7000) * am(n, 3, 0.5, c.rng)
    return _room(c, x * adsr(n, 0.05, 0.1), 0, 0.2)


@recipe("electric_razor", "domestic", "someone shaves with an electric razor|an electric shaver buzzes",
        "an electric razor buzzing|a shaver running", cont=True, tags="machine,bathroom")
def electric_razor(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 8))
    f = c.u(90, 140) * (1 - 0.04 * np.abs(wander(n, 3, c.rng)))
    x = np.tanh(3 * osc(f, n, "saw", c.rng, 60)) + 0.4 * bandpass(noise(c.rng, n), 3000, 9000) * am(n, 4, 0.7, c.rng)
    return _room(c, highpass(x, 200) * adsr(n, 0.05, 0.1), 0, 0.2)


@recipe("coffee_grinder", "domestic", "a coffee grinder grinds beans|someone grinds coffee",
        "a coffee grinder whirring|beans being ground", tags="machine,kitchen")
def coffee_grinder(c: Ctx) -> np.ndarray:
    n = ns(c.u(3, 7))
    f = c.u(300, 500) * (1 + 0.2 * np.clip(secs(n) / (n / SR), 0, 1))  # it speeds up as the beans break
    x = osc(f, n, "saw", c.rng, 12) * 0.4
    beans = scatter(c.rng, n / SR, 400, click_bank(c.rng, 5, 0.01, 1000, 8000, (0.001, 0.003)), 0.1, 1)
    beans *= np.clip(1.3 - secs(n) / (n / SR), 0.2, 1)
    return _room(c, (x + beans) * adsr(n, 0.05, 0.2), 0, 0.2)


@recipe("espresso_machine", "domestic", "an espresso machine pumps and hisses|a coffee machine brews an espresso",
        "an espresso machine|the buzz and hiss of a coffee machine", cont=True, tags="machine,kitchen")
def espresso_machine(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    pump = osc(c.pick([50.0, 60.0]), n, "square", c.rng, 40) * 0.3 * (secs(n) < s * c.u(0.5, 0.8))
    hiss = bandpass(noise(c.rng, n), 2000, 8000) * 0.3 * am(n, 2, 0.5, c.rng) * (secs(n) > s * c.u(0.3, 0.6))
    drip = scatter(c.rng, s, c.u(3, 8), [np.sin(2 * np.pi * c.u(800, 1500) * secs(ns(0.03))) * decay(ns(0.03), 0.006)],
                   0.2, 0.6)
    return _room(c, pump + hiss + drip, 0, 0.2)


@recipe("egg_timer", "domestic", "a kitchen timer ticks and then rings|a wind-up egg timer ticks down",
        "a ticking egg timer|a kitchen timer ticking", cont=True, tags="clock,kitchen,bell")
def egg_timer(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 1))
    rate = c.u(4, 8)
    ring_at = s - c.u(1.5, 2.5) if c.chance(0.6) else s
    for t in np.arange(0.05, min(ring_at, s - 0.1), 1 / rate):
        place(out, click(c.rng, 0.02, 2000, 8000, 0.002), t)
    if ring_at < s:
        f = c.u(2500, 3500)
        for t in np.arange(ring_at, s - 0.1, 1 / 20):
            place(out, modal(c.rng, [f, f * 2.7], [0.05, 0.02], [1, 0.3], 0.1) * 0.5, t)
    return _room(c, out[: ns(s)], 0, 0.2)


@recipe("windscreen_wipers", "vehicles", "a car's windscreen wipers swish back and forth|wipers squeak across the windshield",
        "windscreen wipers|the swish of car wipers", cont=True, tags="car")
def windscreen_wipers(c: Ctx) -> np.ndarray:
    s = c.long()
    out = _strokes(c, s, (c.u(0.5, 0.9),) * 2, 800, 5000, duty=0.7) * 0.7
    n = out.size
    out += 0.3 * lowpass(noise(c.rng, n, "pink"), 1500) * am(n, 0.5, 0.3, c.rng)  # rain and the car around
    return out


@recipe("skateboard", "vehicles", "a skateboard rolls along the pavement|someone skates by on a skateboard",
        "a rolling skateboard|skateboard wheels on concrete", cont=True, tags="street")
def skateboard(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    x = lowpass(noise(c.rng, n, "brown"), c.u(400, 900)) * am(n, 1, 0.3, c.rng)
    joint = c.u(0.4, 1.0)
    for t in np.arange(c.u(0, joint), s - 0.1, joint):  # pavement joints
        place(x, click(c.rng, 0.05, 200, 3000, 0.01) * 2, t)
        place(x, click(c.rng, 0.05, 200, 3000, 0.01) * 1.5, t + c.u(0.1, 0.2))
    return x * adsr(n, 0.5, 0.5)


@recipe("bicycle_freewheel", "vehicles", "a bicycle freewheels with a ticking hub|a bike coasts with its gears clicking",
        "the ticking of a bicycle freewheel|a coasting bike", cont=True, tags="bicycle,click")
def bicycle_freewheel(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    out = np.zeros(ns(s))
    rate0 = c.u(15, 40)
    t = 0.05
    while t < s - 0.05:
        place(out, click(c.rng, 0.01, 2000, 9000, 0.0008), t)
        t += 1 / (rate0 * max(0.3, 1 - 0.6 * t / s))  # slowing down
    return _room(c, out, 0, 0.1)


@recipe("broom_sweeping", "domestic", "someone sweeps the floor with a broom|a broom swishes across the ground",
        "sweeping with a broom|the swish of a broom", cont=True, tags="cleaning")
def broom_sweeping(c: Ctx) -> np.ndarray:
    return _room(c, _strokes(c, c.long(), (0.4, 0.9), 1500, 9000, duty=0.6), 0.1, 0.3)


@recipe("teeth_brushing", "domestic", "someone brushes their teeth|a toothbrush scrubs back and forth",
        "brushing teeth|the scrubbing of a toothbrush", cont=True, tags="bathroom")
def teeth_brushing(c: Ctx) -> np.ndarray:
    return _room(c, _strokes(c, c.long(), (0.12, 0.25), 2000, 9000, duty=0.9), 0.1, 0.3)


@recipe("sandpaper", "tools", "someone sands wood with sandpaper|sandpaper rasps over a board",
        "sanding wood|the rasp of sandpaper", cont=True, tags="wood,tools")
def sandpaper(c: Ctx) -> np.ndarray:
    return _room(c, _strokes(c, c.long(), (0.3, 0.6), 600, 7000, duty=0.85), 0, 0.2)


@recipe("ratchet_wrench", "tools", "a ratchet wrench clicks as someone tightens a bolt|a socket wrench ratchets",
        "a clicking ratchet wrench|tightening a bolt with a ratchet", tags="tools,click,metal")
def ratchet_wrench(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(6))
    t = 0.05
    for _ in range(c.i(3, 7)):
        k = c.i(3, 10)
        rate = c.u(20, 50)
        for i in range(k):
            place(out, mix(click(c.rng, 0.02, 1500, 8000, 0.0015), 0.3 * modal(c.rng, [c.u(3000, 5000)], [0.01], [1], 0.02)),
                  t + i / rate)
        t += k / rate + c.u(0.2, 0.5)
    return _room(c, out[: ns(t + 0.2)], 0, 0.2)


@recipe("snoring", "body", "someone snores loudly|a person snores in their sleep",
        "snoring|the snores of a sleeping person", cont=True, tags="sleep,breath")
def snoring(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 3))
    period = c.u(2.5, 4.5)
    f = c.u(25, 60)
    for t in np.arange(c.u(0, 1), s - 1, period):
        m = ns(c.u(0.8, 1.5))
        rasp = lowpass(noise(c.rng, m), 1200) * (1 + 0.9 * np.sign(np.sin(2 * np.pi * f * secs(m))))
        place(out, rasp * np.sin(np.pi * np.linspace(0, 1, m)), t)
        m2 = ns(c.u(0.8, 1.4))
        place(out, bandpass(noise(c.rng, m2), 300, 2500) * np.sin(np.pi * np.linspace(0, 1, m2)) * 0.15,
              t + m / SR + 0.2)
    return _room(c, out[: ns(s)], 0, 0.2)


@recipe("heavy_breathing", "body", "someone breathes heavily|a person pants after running",
        "heavy breathing|panting", cont=True, tags="breath")
def heavy_breathing(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 2))
    period = c.u(0.7, 1.6)
    for k, t in enumerate(np.arange(0.05, s - 0.5, period / 2)):
        m = ns(period / 2 * 0.8)
        band = (500, 3000) if k % 2 == 0 else (800, 5000)
        place(out, bandpass(noise(c.rng, m), *band) * np.sin(np.pi * np.linspace(0, 1, m)) ** 1.5, t)
    return _room(c, out[: ns(s)], 0, 0.2)


@recipe("ice_cubes", "domestic", "ice cubes clink in a glass|ice rattles in a drink as it is swirled",
        "ice clinking in a glass|ice cubes in a drink", tags="glass,drink")
def ice_cubes(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    for t in 0.05 + np.sort(c.rng.uniform(0, c.u(0.5, 2.0), c.i(5, 25))):
        f = c.u(1500, 4000)
        place(out, modal(c.rng, [f, f * 2.3, c.u(600, 1000)], [0.15, 0.06, 0.02], [0.6, 0.3, 1], 0.3) * c.u(0.2, 1), t)
    return _room(c, out, 0, 0.2)


@recipe("flag_flapping", "weather", "a flag flaps in a strong wind|a flag snaps and flutters on a pole",
        "a flapping flag|cloth fluttering in the wind", cont=True, tags="wind")
def flag_flapping(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    g = np.clip(wander(n, 0.5, c.rng) + 0.7, 0.1, 1.7)
    flutter = np.maximum(0, np.sin(2 * np.pi * np.cumsum(c.u(4, 12) * g) / SR)) ** 6
    x = bandpass(noise(c.rng, n), 200, 3000) * flutter * g + 0.3 * lowpass(noise(c.rng, n, "pink"), 600) * g
    return x


@recipe("swing_creak", "domestic", "a playground swing creaks back and forth|an old swing squeaks as it sways",
        "a creaking swing|the squeak of a swing", cont=True, tags="creak,playground")
def swing_creak(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s))
    period = c.u(1.2, 2.2)
    f = c.u(400, 1200)
    for k, t in enumerate(np.arange(0.05, s - 0.6, period / 2)):
        m = ns(c.u(0.2, 0.45))
        ff = f * (1.15 if k % 2 else 1.0) * np.linspace(1, c.u(0.85, 1.15), m)
        pulses = np.maximum(0, np.sin(2 * np.pi * np.cumsum(np.full(m, c.u(40, 90))) / SR)) ** 6
        place(out, bandpass(osc(ff, m, "saw", c.rng, 20) * (0.3 + pulses), 300, 5000) * adsr(m, 0.03, 0.05), t)
    return _room(c, out, 0.05, 0.3)


@recipe("microwave_running", "domestic", "a microwave oven hums as it heats food|the microwave runs",
        "a running microwave|the hum of a microwave oven", cont=True, tags="machine,kitchen")
def microwave_running(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    f = c.pick([50, 60])
    x = osc(2 * f, n, "sine", c.rng) * 0.4 + osc(4 * f, n, "sine", c.rng) * 0.15
    x += lowpass(noise(c.rng, n, "pink"), 2000) * 0.3 * (1 + 0.1 * np.sin(2 * np.pi * secs(n) / c.u(8, 12)))
    return _room(c, x * adsr(n, 0.05, 0.05), 0, 0.2)
