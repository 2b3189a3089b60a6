"""Recipes: sirens, alarms, telephones, beeps, bells, whistles and horns."""

from __future__ import annotations

import numpy as np

from vividsound.data.synth.dsp import (SR, adsr, bandpass, decay, doppler, highpass, lowpass, modal, noise, ns,
                                       osc, place, reson, reverb, secs)
from vividsound.data.synth.registry import Ctx, recipe


def _room(c: Ctx, x: np.ndarray, lo: float = 0.0, hi: float = 0.35) -> np.ndarray:
    return reverb(c.rng, x, c.u(0.3, 1.5), c.u(lo, hi))


def _tone_pattern(c: Ctx, seconds: float, freqs: list[float], on: float, off: float, shape: str = "sine",
                  start: float = 0.05) -> np.ndarray:
    """Beeps of ``freqs`` (summed) for ``on`` s every ``on + off`` s."""
    out = np.zeros(ns(seconds))
    t = start
    while t + on < seconds:
        n = ns(on)
        b = sum(osc(f, n, shape, c.rng) for f in freqs) * adsr(n, 0.004, 0.01)
        place(out, b, t)
        t += on + off
    return out


# ---- sirens ---------------------------------------------------------------------------------------

def _siren(c: Ctx, freq: np.ndarray, seconds: float, passing: bool) -> np.ndarray:
    n = freq.size
    x = osc(freq, n, c.pick(["square", "saw", "tri"]), c.rng, harmonics=10)
    x = np.tanh(2.0 * x)
    x = bandpass(x, 300, 5000) + 0.3 * reson(x, c.u(1500, 2500), 3)
    if passing:
        x = doppler(np.concatenate([x, x[: ns(1.5)]]), c.u(12, 25), c.u(8, 25), c.u(0.35, 0.65) * seconds, seconds)
    return _room(c, x)


def _siren_track(c: Ctx, kind: str, seconds: float) -> np.ndarray:
    n = ns(seconds)
    t = secs(n)
    lo, hi = c.u(550, 800), c.u(1200, 1700)
    if kind == "wail":
        period = c.u(3.0, 6.0)
        ph = (t / period + c.u(0, 1)) % 1
        return lo + (hi - lo) * np.sin(np.pi * ph) ** 1.5
    if kind == "yelp":
        period = c.u(0.25, 0.4)
        ph = (t / period) % 1
        return lo + (hi - lo) * ph ** 0.7
    period = c.u(0.5, 0.8)
    return np.where((t / period) % 2 < 1, c.u(900, 1000), c.u(700, 780))


@recipe("siren_wail", "signals", "a siren wails|an emergency siren rises and falls|a siren is wailing",
        "a wailing siren|the long rise and fall of a siren|an emergency vehicle's siren", cont=True, tags="siren,alarm")
def siren_wail(c: Ctx) -> np.ndarray:
    s = c.long()
    return _siren(c, _siren_track(c, "wail", s), s, passing=False)


@recipe("siren_yelp", "signals", "a siren yelps|a police siren whoops quickly|a fast siren warbles",
        "a yelping siren|a fast warbling siren|a police car's yelp siren", cont=True, tags="siren,alarm")
def siren_yelp(c: Ctx) -> np.ndarray:
    s = c.long()
    return _siren(c, _siren_track(c, "yelp", s), s, passing=False)


@recipe("siren_hilo", "signals", "a two-tone siren goes hee-haw|an ambulance siren alternates between two notes",
        "a two-tone siren|a hi-lo siren|the nee-naw of an ambulance", cont=True, tags="siren,alarm")
def siren_hilo(c: Ctx) -> np.ndarray:
    s = c.long()
    return _siren(c, _siren_track(c, "hilo", s), s, passing=False)


@recipe("siren_passing", "signals", "an emergency vehicle races past with its siren on|a siren passes by and fades",
        "a passing siren|an ambulance speeding past|a siren going by", cont=True, tags="siren,vehicle")
def siren_passing(c: Ctx) -> np.ndarray:
    s = c.u(6, 10)
    return _siren(c, _siren_track(c, c.pick(["wail", "yelp", "hilo"]), s + 1.5), s, passing=True)


@recipe("air_raid_siren", "signals", "an air raid siren winds up and howls|a civil defence siren sounds",
        "an air raid siren|a wind-up warning siren|a tornado siren", cont=True, tags="siren,alarm")
def air_raid_siren(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    t = secs(n)
    top = c.u(350, 550)
    rise = c.u(1.5, 3.0)
    f = top * np.clip(t / rise, 0.15, 1) ** 0.6 * (1 - 0.25 * np.clip((t - s + 2.5) / 2.5, 0, 1))
    x = osc(f, n, "saw", c.rng, 8) + 0.5 * osc(f * 1.5, n, "saw", c.rng, 6)
    return reverb(c.rng, lowpass(np.tanh(x), 4000) * adsr(n, 0.5, 1.0), c.u(1.5, 3.0), c.u(0.3, 0.6))


# ---- alarms ---------------------------------------------------------------------------------------

@recipe("alarm_clock", "signals", "an alarm clock beeps|an alarm clock goes off|the morning alarm beeps",
        "an alarm clock beeping|a beeping alarm clock|the beep-beep of an alarm clock", cont=True, tags="alarm,beep")
def alarm_clock(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(2000, 4000)
    k, on, gap = c.i(2, 4), c.u(0.05, 0.1), c.u(0.05, 0.09)
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - 1:
        for _ in range(k):
            n = ns(on)
            place(out, osc(f, n, "square", c.rng, 4) * adsr(n, 0.003, 0.005), t)
            t += on + gap
        t += c.u(0.4, 0.7)
    return _room(c, highpass(out, 500), 0, 0.2)


@recipe("alarm_bell_clock", "signals", "an old wind-up alarm clock rings|a mechanical alarm clock rattles its bell",
        "a ringing wind-up alarm clock|the bell of an old alarm clock", cont=True, tags="alarm,bell")
def alarm_bell_clock(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    rate = c.u(14, 22)
    f0 = c.u(2200, 3200)
    out = np.zeros(ns(s))
    strike = modal(c.rng, [f0, f0 * 2.76, f0 * 5.4], [0.25, 0.12, 0.05], [1, 0.5, 0.25], 0.3)
    for i, t in enumerate(np.arange(0.05, s - 0.3, 1 / rate)):
        place(out, strike * (1 if i % 2 else 0.8), t + c.u(-0.003, 0.003))
    return _room(c, out * adsr(out.size, 0.01, 0.1), 0, 0.2)


@recipe("smoke_alarm", "signals", "a smoke alarm shrieks|a smoke detector beeps loudly|the fire alarm goes off",
        "a smoke alarm going off|a shrill smoke detector|three-beep fire alarm pattern", cont=True, tags="alarm,beep")
def smoke_alarm(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(2900, 3400)
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - 0.5:
        for _ in range(3):
            n = ns(0.5)
            place(out, np.tanh(3 * osc(f, n, "sine", c.rng)) * adsr(n, 0.005, 0.01), t)
            t += 1.0
        t += 0.5
    return _room(c, out, 0.1, 0.4)


@recipe("smoke_alarm_chirp", "signals", "a smoke detector chirps for a new battery|a lone chirp from a smoke alarm",
        "the low-battery chirp of a smoke detector|a smoke alarm chirping", tags="beep,alarm")
def smoke_alarm_chirp(c: Ctx) -> np.ndarray:
    f = c.u(3000, 3600)
    n = ns(c.u(0.04, 0.1))
    x = np.tanh(3 * osc(f, n, "sine", c.rng)) * adsr(n, 0.002, 0.01)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.6))]), 0.2, 0.5)


@recipe("car_alarm", "signals", "a car alarm goes off|a car alarm whoops and honks|a car alarm blares in the street",
        "a car alarm|a blaring car alarm|a car alarm cycling through its sounds", cont=True, tags="alarm,vehicle")
def car_alarm(c: Ctx) -> np.ndarray:
    s = c.long()
    out = []
    while sum(x.size for x in out) < ns(s):
        mode = c.pick(["whoop", "chirp", "yelp", "honk"])
        seg = c.u(1.5, 3.0)
        n = ns(seg)
        t = secs(n)
        if mode == "whoop":
            f = 600 + 1200 * ((t / c.u(0.4, 0.8)) % 1)
        elif mode == "chirp":
            f = np.where((t / 0.1) % 2 < 1, 1800, 2400)
        elif mode == "yelp":
            f = 800 + 800 * np.abs(np.sin(np.pi * t / 0.15))
        else:
            f = np.full(n, 420.0) * (1 + 0.01 * c.u(-1, 1))
            gate = ((t / 0.5) % 1 < 0.6).astype(float)
            out.append(np.tanh(3 * osc(f, n, "square", c.rng, 10)) * gate)
            continue
        out.append(np.tanh(2 * osc(f, n, "square", c.rng, 8)))
    x = np.concatenate(out)[: ns(s)]
    return _room(c, bandpass(x, 300, 5000), 0.1, 0.4)


@recipe("buzzer", "signals", "a loud buzzer sounds|a buzzer drones harshly|the game-show buzzer goes off",
        "a harsh buzzer|a loud electric buzzer|a buzzing alarm", tags="alarm")
def buzzer(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.6, 2.0))
    f = c.u(90, 220)
    x = osc(f, n, "square", c.rng, 40) + 0.5 * osc(f * 2.01, n, "saw", c.rng, 30)
    return _room(c, np.tanh(2 * x) * adsr(n, 0.01, 0.03), 0, 0.2)


@recipe("school_bell", "signals", "a school bell rings|an electric bell rings in a corridor|the class bell rings",
        "a ringing school bell|an electric bell ringing|the long ring of a school bell", cont=True, tags="bell,alarm")
def school_bell(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    rate = c.u(18, 30)
    f0 = c.u(700, 1300)
    strike = modal(c.rng, [f0, f0 * 2.4, f0 * 3.9, f0 * 5.3], [0.4, 0.2, 0.1, 0.06], [1, 0.6, 0.4, 0.2], 0.5)
    out = np.zeros(ns(s + 0.6))
    for t in np.arange(0.05, s, 1 / rate):
        place(out, strike, t)
    return reverb(c.rng, out, c.u(1.0, 2.0), c.u(0.3, 0.5))


# ---- telephones -----------------------------------------------------------------------------------

@recipe("phone_ring_old", "signals", "an old telephone rings|a rotary phone rings with its bell|the landline rings",
        "an old-fashioned ringing telephone|the bell of an old phone|a ringing rotary phone", cont=True, tags="telephone,bell")
def phone_ring_old(c: Ctx) -> np.ndarray:
    s = c.long()
    f0 = c.u(1300, 2000)
    strike = modal(c.rng, [f0, f0 * 1.07, f0 * 2.7], [0.15, 0.15, 0.06], [1, 0.8, 0.3], 0.25)
    out = np.zeros(ns(s))
    t = 0.05
    uk = c.chance(0.5)
    while t < s - 1:
        bursts = [(0.4, 0.2), (0.4, 2.0)] if uk else [(c.u(1.5, 2.0), c.u(2.5, 4.0))]
        for on, off in bursts:
            for k, tt in enumerate(np.arange(t, t + on, 1 / 20)):
                place(out, strike * (1 if k % 2 else 0.7), tt)
            t += on + off
    return _room(c, out)


@recipe("phone_ring_modern", "signals", "a mobile phone rings|a cell phone plays its ringtone|a phone's ringtone goes off",
        "a ringing mobile phone|a cell phone ringtone|a phone ringing with a melody", cont=True, tags="telephone,ringtone")
def phone_ring_modern(c: Ctx) -> np.ndarray:
    s = c.long()
    root = c.u(500, 900)
    scale = [0, 2, 4, 5, 7, 9, 12, 14]
    motif = [scale[c.i(0, 7)] for _ in range(c.i(4, 8))]
    note = c.u(0.09, 0.16)
    shape = c.pick(["sine", "square", "tri"])
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - note * len(motif):
        for m in motif:
            n = ns(note)
            place(out, osc(root * 2 ** (m / 12), n, shape, c.rng, 6) * decay(n, note * 0.7), t)
            t += note
        t += c.u(0.3, 1.2)
    return _room(c, out, 0, 0.25)


@recipe("dial_tone", "signals", "a telephone dial tone hums|the line gives a dial tone|a phone off the hook gives its tone",
        "a dial tone|the steady hum of a phone line|a telephone dial tone", cont=True, tags="telephone,tone")
def dial_tone(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    freqs = c.pick([[350, 440], [425], [400, 450], [440]])
    x = sum(osc(f, n, "sine", c.rng) for f in freqs)
    x = bandpass(x + 0.02 * noise(c.rng, n), 300, 3400)
    return x * adsr(n, 0.01, 0.02)


@recipe("busy_tone", "signals", "a telephone busy signal beeps|the line is engaged and beeps|a phone gives a busy tone",
        "a busy signal|an engaged tone on the phone|the beep-beep of a busy line", cont=True, tags="telephone,beep")
def busy_tone(c: Ctx) -> np.ndarray:
    s = c.long()
    freqs = c.pick([[480, 620], [425], [400]])
    on = c.pick([0.5, 0.375, 0.25])
    return bandpass(_tone_pattern(c, s, freqs, on, on), 300, 3400)


@recipe("ringback_tone", "signals", "a phone rings at the other end of the line|a call is ringing out|ringing heard through a handset",
        "the ringback tone of a call|a call ringing out|a phone ringing heard down the line", cont=True, tags="telephone,tone")
def ringback_tone(c: Ctx) -> np.ndarray:
    s = c.long()
    if c.chance(0.5):
        x = _tone_pattern(c, s, [440, 480], 2.0, 4.0)
    else:
        out = np.zeros(ns(s))
        for t in np.arange(0.05, s - 1, 3.0):
            place(out, _tone_pattern(c, 1.2, [400, 450], 0.4, 0.2, start=0), t)
        x = out
    return bandpass(x + 0.01 * noise(c.rng, x.size), 300, 3400)


_DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336), "6": (770, 1477),
         "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209), "0": (941, 1336), "#": (941, 1477)}


@recipe("dtmf_dialing", "signals", "someone dials a number on a touch-tone phone|phone keypad tones beep|a number is keyed in on a phone",
        "touch-tone dialing|keypad beeps of a phone|DTMF tones of a number being dialed", tags="telephone,beep")
def dtmf_dialing(c: Ctx) -> np.ndarray:
    digits = [c.pick(list(_DTMF)) for _ in range(c.i(4, 11))]
    out = np.zeros(ns(0.1 + len(digits) * 0.45 + 0.3))
    t = 0.05
    for d in digits:
        on = c.u(0.08, 0.2)
        n = ns(on)
        place(out, (osc(_DTMF[d][0], n, "sine", c.rng) + osc(_DTMF[d][1], n, "sine", c.rng)) * adsr(n, 0.003, 0.005), t)
        t += on + c.u(0.07, 0.3)
    return bandpass(out[: ns(t + 0.2)], 300, 3400)


@recipe("rotary_dial", "signals", "someone dials an old rotary phone|a rotary dial whirs and clicks back",
        "a rotary phone being dialed|the whir and click of a rotary dial", tags="telephone,click")
def rotary_dial(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(12))
    t = 0.1
    for _ in range(c.i(3, 7)):
        d = c.i(1, 10)
        wind = c.u(0.3, 0.6)
        n = ns(wind)
        place(out, bandpass(noise(c.rng, n), 800, 4000) * 0.05 * adsr(n, 0.05, 0.05), t)
        t += wind
        for _ in range(d):
            place(out, modal(c.rng, [1800, 3200, 5100], [0.01, 0.008, 0.005], [1, 0.6, 0.4], 0.03), t)
            t += 0.1
        t += c.u(0.3, 0.8)
    return _room(c, out[: ns(t + 0.2)], 0, 0.2)


@recipe("modem_dialup", "signals", "a dial-up modem screeches and connects|an old modem makes its connecting noises",
        "the screech of a dial-up modem|a modem handshake|an old internet modem connecting", tags="electronic,telephone")
def modem_dialup(c: Ctx) -> np.ndarray:
    s = c.u(5, 9)
    n = ns(s)
    t = secs(n)
    seg = np.zeros(n)
    cuts = np.sort(c.rng.uniform(0, s, 6))
    f = np.full(n, 2100.0)
    for k, (a, b) in enumerate(zip(np.r_[0, cuts], np.r_[cuts, s])):
        m = (t >= a) & (t < b)
        f[m] = c.pick([980, 1180, 1650, 1850, 2100, 2250])
        seg[m] = k % 3
    x = osc(f, n, "sine", c.rng)
    x = np.where(seg == 2, bandpass(noise(c.rng, n), 600, 3200) * 0.6, x)
    x = np.where(seg == 1, x * (1 + 0.8 * np.sign(np.sin(2 * np.pi * c.u(30, 80) * t))), x)
    return bandpass(x, 300, 3400) * adsr(n, 0.01, 0.05)


# ---- beeps ----------------------------------------------------------------------------------------

@recipe("microwave_beep", "domestic", "a microwave beeps when it is done|the microwave oven beeps three times|a kitchen timer beeps",
        "microwave beeps|the beeping of a finished microwave|a microwave's done signal", tags="beep,kitchen")
def microwave_beep(c: Ctx) -> np.ndarray:
    k = c.pick([1, 3, 3, 4, 5])
    on, off = c.u(0.15, 0.5), c.u(0.15, 0.5)
    x = _tone_pattern(c, 0.1 + k * (on + off), [c.u(1800, 3000)], on, off, shape=c.pick(["square", "sine"]))
    return _room(c, np.concatenate([x, np.zeros(ns(0.3))]), 0, 0.2)


@recipe("reversing_beep", "vehicles", "a truck beeps as it reverses|a reversing lorry beeps steadily|a backing-up alarm beeps",
        "a truck's reversing beeper|the beep-beep of a vehicle backing up|a reversing alarm", cont=True, tags="beep,vehicle")
def reversing_beep(c: Ctx) -> np.ndarray:
    s = c.long()
    on = c.u(0.4, 0.6)
    x = _tone_pattern(c, s, [c.u(1000, 1250)], on, on, "square")
    n = x.size
    x += 0.15 * lowpass(noise(c.rng, n, "brown"), 200)  # the idling truck under it
    return reverb(c.rng, bandpass(x, 200, 5000), c.u(0.5, 1.2), c.u(0.2, 0.5))


@recipe("heart_monitor", "signals", "a heart monitor beeps steadily|a hospital monitor beeps with the heartbeat",
        "a beeping heart monitor|the steady beep of a patient monitor|an ECG monitor beeping", cont=True, tags="beep,hospital")
def heart_monitor(c: Ctx) -> np.ndarray:
    s = c.long()
    bpm = c.u(55, 110)
    f = c.u(800, 1100)
    out = np.zeros(ns(s))
    for t in np.arange(c.u(0.05, 0.5), s - 0.2, 60 / bpm):
        n = ns(0.12)
        place(out, osc(f, n, "sine", c.rng) * adsr(n, 0.003, 0.04), t + c.u(-0.01, 0.01))
    out += 0.02 * lowpass(noise(c.rng, out.size, "pink"), 3000)
    return _room(c, out, 0, 0.2)


@recipe("flatline", "signals", "a heart monitor flatlines with a steady tone|the monitor gives one long continuous beep",
        "a flatline tone|a heart monitor flatlining", cont=True, tags="beep,hospital")
def flatline(c: Ctx) -> np.ndarray:
    n = ns(c.long())
    return osc(c.u(800, 1100), n, "sine", c.rng) * adsr(n, 0.01, 0.05) + 0.02 * noise(c.rng, n, "pink")


@recipe("scanner_beep", "signals", "a barcode scanner beeps at the checkout|items beep through the supermarket checkout",
        "supermarket checkout beeps|a barcode scanner beeping|beeps of a till scanning items", tags="beep,shop")
def scanner_beep(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(8))
    t = 0.05
    f = c.u(1800, 3500)
    for _ in range(c.i(3, 9)):
        n = ns(c.u(0.06, 0.12))
        place(out, osc(f, n, "square", c.rng, 4) * adsr(n, 0.002, 0.01), t)
        t += c.u(0.4, 1.2)
    out = out[: ns(t + 0.2)]
    out += 0.03 * bandpass(noise(c.rng, out.size, "pink"), 200, 3000)  # shop murmur
    return out


@recipe("seatbelt_chime", "vehicles", "a car chimes to fasten the seatbelt|the dashboard warning chime dings",
        "a seatbelt warning chime|a car's warning ding", cont=True, tags="beep,vehicle")
def seatbelt_chime(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(700, 1400)
    out = np.zeros(ns(s))
    for t in np.arange(0.05, s - 0.5, c.u(0.5, 1.0)):
        place(out, modal(c.rng, [f, f * 2.0, f * 3.0], [0.3, 0.15, 0.08], [1, 0.3, 0.1], 0.5), t)
    return out


@recipe("elevator_ding", "domestic", "an elevator dings as it arrives|a lift chimes at the floor",
        "an elevator arrival chime|the ding of a lift", tags="bell,building")
def elevator_ding(c: Ctx) -> np.ndarray:
    f = c.u(600, 1200)
    notes = [f] if c.chance(0.5) else [f * 1.26, f]
    out = np.zeros(ns(2.5))
    for k, fr in enumerate(notes):
        place(out, modal(c.rng, [fr, fr * 2, fr * 3.01, fr * 4.1], [0.8, 0.4, 0.2, 0.1], [1, 0.4, 0.2, 0.1], 1.6),
              0.05 + 0.5 * k)
    out += 0.05 * lowpass(noise(c.rng, out.size, "brown"), 150)
    return _room(c, out)


@recipe("countdown_beeps", "signals", "a countdown beeps, the last beep higher|beeps count down to a start signal",
        "a countdown of beeps|race start beeps", tags="beep")
def countdown_beeps(c: Ctx) -> np.ndarray:
    f = c.u(500, 900)
    k = c.i(3, 5)
    out = np.zeros(ns(k + 1.6))
    for i in range(k + 1):
        n = ns(0.2 if i < k else 0.6)
        place(out, osc(f * (2 if i == k else 1), n, "square", c.rng, 5) * adsr(n, 0.003, 0.02), 0.05 + i)
    return _room(c, out, 0, 0.2)


@recipe("crosswalk_signal", "signals", "a pedestrian crossing signal ticks rapidly|the crosswalk beeps so people can cross",
        "a pedestrian crossing beeper|the ticking of a crosswalk signal", cont=True, tags="beep,street")
def crosswalk_signal(c: Ctx) -> np.ndarray:
    s = c.long()
    rate = c.u(4, 10)
    f = c.u(1500, 3000)
    out = np.zeros(ns(s))
    for t in np.arange(0.05, s - 0.1, 1 / rate):
        n = ns(0.02)
        place(out, osc(f, n, "square", c.rng, 4) * decay(n, 0.006), t)
    out += 0.05 * lowpass(noise(c.rng, out.size, "brown"), 300)  # traffic far away
    return out


@recipe("morse_code", "signals", "morse code beeps out a message|a radio operator taps out morse code",
        "morse code|dots and dashes of morse code", cont=True, tags="beep,radio")
def morse_code(c: Ctx) -> np.ndarray:
    s = c.long()
    unit = c.u(0.05, 0.1)
    f = c.u(500, 900)
    out = np.zeros(ns(s))
    t = 0.05
    while t < s - 0.5:
        for _ in range(c.i(1, 4)):
            on = unit * c.pick([1, 3])
            n = ns(on)
            place(out, osc(f, n, "sine", c.rng) * adsr(n, 0.003, 0.003), t)
            t += on + unit
        t += 2 * unit if c.chance(0.7) else 6 * unit
    return out + 0.02 * bandpass(noise(c.rng, out.size), 300, 3000)


@recipe("sonar_ping", "signals", "a sonar pings underwater|a submarine's sonar pings and echoes",
        "a sonar ping|sonar pinging in the deep", cont=True, tags="electronic,water")
def sonar_ping(c: Ctx) -> np.ndarray:
    s = c.long()
    f = c.u(900, 1800)
    out = np.zeros(ns(s))
    for t in np.arange(0.05, s - 1, c.u(1.8, 3.5)):
        n = ns(0.4)
        place(out, osc(f, n, "sine", c.rng) * decay(n, 0.12), t)
    return reverb(c.rng, out, c.u(2.0, 3.5), 0.6) + 0.02 * lowpass(noise(c.rng, out.size), 500)


# ---- bells ----------------------------------------------------------------------------------------

def _church_strike(c: Ctx, f0: float, seconds: float) -> np.ndarray:
    ratios = [0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.66, 3.0, 4.0]
    taus = [seconds * 0.9, seconds * 0.6, seconds * 0.4, seconds * 0.3, seconds * 0.25, 0.8, 0.6, 0.4, 0.25]
    amps = [0.6, 0.9, 0.7, 0.4, 1.0, 0.4, 0.3, 0.25, 0.15]
    return modal(c.rng, [f0 * r for r in ratios], taus, amps, seconds, detune=0.004)


@recipe("church_bell", "signals", "a church bell tolls|church bells ring out|a big bell tolls slowly",
        "a tolling church bell|the toll of a church bell|church bells ringing", cont=True, tags="bell")
def church_bell(c: Ctx) -> np.ndarray:
    s = c.long()
    bells = [c.u(180, 500) * r for r in ([1] if c.chance(0.5) else [1, 0.89, 0.75, 0.67][: c.i(2, 4)])]
    period = c.u(1.0, 3.0) if len(bells) == 1 else c.u(0.35, 0.7)
    out = np.zeros(ns(s + 4))
    t, k = 0.05, 0
    while t < s - 0.5:
        place(out, _church_strike(c, bells[k % len(bells)], 4.0) * c.u(0.7, 1.0), t)
        t += period
        k += 1
    out = out[: ns(s)] * adsr(ns(s), 0.001, 1.0)
    return reverb(c.rng, out, c.u(1.5, 3), c.u(0.2, 0.5))


@recipe("bicycle_bell", "vehicles", "a bicycle bell rings|someone rings a bike bell twice|a cyclist rings their bell",
        "a bicycle bell ringing|the ring-ring of a bike bell|a bike bell", tags="bell,bicycle")
def bicycle_bell(c: Ctx) -> np.ndarray:
    f0 = c.u(2800, 4200)
    out = np.zeros(ns(2.5))
    t = 0.05
    for _ in range(c.i(1, 3)):
        for k in range(c.i(2, 6)):  # a thumb lever makes a quick trill of strikes
            place(out, modal(c.rng, [f0, f0 * 1.02, f0 * 2.3, f0 * 3.6], [0.5, 0.45, 0.2, 0.08], [1, 0.7, 0.4, 0.2], 0.9),
                  t + k * 0.04)
        t += c.u(0.3, 0.5)
    return _room(c, out[: ns(t + 0.8)], 0, 0.15)


@recipe("doorbell", "domestic", "a doorbell rings|the doorbell goes ding-dong|someone rings the doorbell",
        "a ding-dong doorbell|the chime of a doorbell|a doorbell ringing", tags="bell,door")
def doorbell(c: Ctx) -> np.ndarray:
    f = c.u(500, 900)
    pattern = c.pick([[1.26, 1.0], [1.5, 1.26, 1.0], [1.0, 1.26, 1.5, 1.0]])
    gap = c.u(0.35, 0.7)
    out = np.zeros(ns(len(pattern) * gap + 2.5))
    for k, r in enumerate(pattern):
        fr = f * r
        place(out, modal(c.rng, [fr, fr * 3.93, fr * 9.5], [1.2, 0.3, 0.08], [1, 0.3, 0.1], 2.0), 0.05 + k * gap)
    return _room(c, out)


@recipe("electric_doorbell", "domestic", "an electric doorbell buzzes|someone presses a buzzing doorbell",
        "a buzzing doorbell|an old electric door buzzer", tags="door,buzzer")
def electric_doorbell(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.5, 2.0))
    f = c.u(50, 120)
    x = np.tanh(4 * osc(f, n, "saw", c.rng, 60)) + 0.3 * noise(c.rng, n) * (np.sin(2 * np.pi * f * secs(n)) > 0.9)
    x = bandpass(x, 100, 6000) * adsr(n, 0.01, 0.03)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(0.3))]))


@recipe("shop_bell", "domestic", "a shop door bell jingles as someone comes in|a little bell tinkles over a door",
        "the tinkle of a shop door bell|a small bell jingling on a door", tags="bell,door")
def shop_bell(c: Ctx) -> np.ndarray:
    f0 = c.u(2000, 3500)
    out = np.zeros(ns(2.5))
    for k in range(c.i(4, 10)):
        g = np.exp(-k * c.u(0.2, 0.5))
        place(out, g * modal(c.rng, [f0, f0 * 2.7, f0 * 5.1], [0.5, 0.2, 0.1], [1, 0.4, 0.2], 0.8, detune=0.01),
              0.05 + k * c.u(0.05, 0.15))
    return _room(c, out)


@recipe("hand_bell", "signals", "someone rings a hand bell|a hand bell clangs back and forth|a brass hand bell rings",
        "a ringing hand bell|the clang of a hand bell", tags="bell")
def hand_bell(c: Ctx) -> np.ndarray:
    f0 = c.u(700, 1600)
    out = np.zeros(ns(4.5))
    swing = c.u(0.2, 0.4)
    for k in range(c.i(3, 10)):
        place(out, modal(c.rng, [f0, f0 * 2.1, f0 * 2.9, f0 * 4.2], [0.9, 0.5, 0.3, 0.15], [1, 0.6, 0.4, 0.2], 1.5)
              * c.u(0.6, 1), 0.05 + k * swing)
    return _room(c, out)


@recipe("wind_chimes", "signals", "wind chimes tinkle in the breeze|chimes ring gently in the wind",
        "tinkling wind chimes|wind chimes in a breeze|the soft ringing of wind chimes", cont=True, tags="bell,wind")
def wind_chimes(c: Ctx) -> np.ndarray:
    s = c.long()
    base = c.u(500, 1500)
    tubes = [base * r for r in c.pick([[1, 1.125, 1.25, 1.5, 1.667], [1, 1.2, 1.33, 1.5, 1.8], [1, 1.19, 1.41, 1.68, 2]])]
    out = np.zeros(ns(s + 3))
    for t in np.sort(c.rng.uniform(0, s - 0.5, c.i(int(s * 1.5), int(s * 5)))):
        f = c.pick(tubes)
        place(out, modal(c.rng, [f, f * 2.76, f * 5.4], [1.8, 0.6, 0.25], [1, 0.35, 0.15], 3.0) * c.u(0.2, 1), t)
    out = out[: ns(s)] * adsr(ns(s), 0.01, 1)
    out += 0.05 * bandpass(noise(c.rng, out.size, "pink"), 200, 2000) * np.abs(np.sin(np.pi * secs(out.size) / s))
    return out


@recipe("cowbell_animal", "animal", "a cow's bell clanks as it grazes|cowbells clank in an alpine meadow",
        "clanking cowbells|the bells of grazing cows", cont=True, tags="bell,cattle")
def cowbell_animal(c: Ctx) -> np.ndarray:
    s = c.long()
    out = np.zeros(ns(s + 1))
    for _ in range(c.i(1, 4)):
        f0 = c.u(350, 900)
        t = c.u(0, 1)
        while t < s - 0.5:
            place(out, modal(c.rng, [f0, f0 * 1.5, f0 * 2.4, f0 * 3.3], [0.25, 0.15, 0.1, 0.06], [1, 0.8, 0.5, 0.3], 0.6,
                             detune=0.01) * c.u(0.3, 1), t)
            t += c.u(0.2, 1.5)
    out = out[: ns(s)]
    return out + 0.03 * bandpass(noise(c.rng, out.size, "pink"), 200, 4000)


@recipe("sleigh_bells", "signals", "sleigh bells jingle|jingle bells shake rhythmically",
        "jingling sleigh bells|a shake of jingle bells", cont=True, tags="bell")
def sleigh_bells(c: Ctx) -> np.ndarray:
    s = c.u(3, 8)
    out = np.zeros(ns(s + 1))
    period = c.u(0.25, 0.5)
    for t0 in np.arange(0.05, s - 0.3, period):
        for _ in range(c.i(6, 14)):
            f = c.u(3000, 7000)
            place(out, modal(c.rng, [f, f * 1.6], [0.08, 0.04], [1, 0.5], 0.2) * c.u(0.2, 1), t0 + c.u(0, 0.06))
    return _room(c, out[: ns(s)], 0, 0.2)


@recipe("singing_bowl", "signals", "a singing bowl rings out and hums|a Tibetan bowl is struck and resonates",
        "a ringing singing bowl|the long hum of a meditation bowl", tags="bell")
def singing_bowl(c: Ctx) -> np.ndarray:
    f0 = c.u(180, 500)
    s = c.u(5, 9)
    x = modal(c.rng, [f0, f0 * 1.003, f0 * 2.71, f0 * 2.715, f0 * 5.02], [s * 0.5, s * 0.5, s * 0.3, s * 0.3, 1.0],
              [1, 0.9, 0.5, 0.45, 0.15], s)
    return _room(c, x, 0.1, 0.3)


@recipe("ship_bell", "vehicles", "a ship's bell rings in pairs|the bell on a boat clangs",
        "a ship's bell|the clang of a boat's bell", tags="bell,boat")
def ship_bell(c: Ctx) -> np.ndarray:
    f0 = c.u(900, 1600)
    out = np.zeros(ns(6))
    t = 0.05
    for _ in range(c.i(1, 4)):
        for k in range(2):
            place(out, modal(c.rng, [f0, f0 * 2.2, f0 * 3.6], [1.2, 0.5, 0.2], [1, 0.5, 0.25], 2.0), t + k * 0.35)
        t += 1.2
    out = out[: ns(t + 1.5)]
    return out + 0.05 * lowpass(noise(c.rng, out.size, "pink"), 800)


# ---- whistles and horns ---------------------------------------------------------------------------

@recipe("kettle", "domestic", "a kettle starts to whistle on the stove|the kettle whistles as the water boils",
        "a whistling kettle|a kettle's rising whistle|the shriek of a boiling kettle", cont=True, tags="kitchen,whistle")
def kettle_whistle(c: Ctx) -> np.ndarray:
    s = c.long()
    n = ns(s)
    t = secs(n)
    start = c.u(0.5, 2.5)
    ramp = np.clip((t - start) / c.u(1.0, 2.5), 0, 1)
    f = c.u(1500, 2500) * (1 + 0.15 * ramp) * (1 + 0.005 * np.sin(2 * np.pi * c.u(3, 7) * t))
    tone = osc(f, n, "sine", c.rng) * ramp ** 1.5
    hiss = bandpass(noise(c.rng, n), 2000, 8000) * (0.1 + 0.2 * ramp)
    bubbles = lowpass(noise(c.rng, n, "brown"), 400) * 0.3
    return tone + hiss + bubbles


@recipe("train_whistle", "vehicles", "a steam train blows its whistle|a train whistle sounds in the distance",
        "a steam train's whistle|the long whistle of a train", tags="train,whistle")
def train_whistle(c: Ctx) -> np.ndarray:
    f0 = c.u(300, 600)
    chord = [f0, f0 * 1.26, f0 * 1.5] if c.chance(0.6) else [f0, f0 * 1.19, f0 * 1.5, f0 * 1.78]
    out = np.zeros(ns(6))
    t = 0.05
    for _ in range(c.i(1, 3)):
        n = ns(c.u(0.6, 2.2))
        x = sum(osc(f * (1 + 0.003 * c.u(-1, 1)), n, "saw", c.rng, 6) for f in chord)
        x = x + 0.6 * bandpass(noise(c.rng, n), 1000, 5000)
        place(out, x * adsr(n, 0.08, 0.2), t)
        t += n / SR + c.u(0.2, 0.5)
    return reverb(c.rng, out[: ns(t + 0.5)], c.u(1.5, 3), c.u(0.3, 0.6))


@recipe("referee_whistle", "signals", "a referee blows a whistle|a coach blows a sharp whistle|someone blows a pea whistle",
        "a referee's whistle|a sharp blast of a sports whistle", tags="whistle,sport")
def referee_whistle(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(4))
    t = 0.05
    for _ in range(c.i(1, 3)):
        n = ns(c.u(0.2, 1.2))
        tt = secs(n)
        f = c.u(2500, 3800) * (1 + 0.04 * np.sin(2 * np.pi * c.u(25, 45) * tt))  # the pea's trill
        x = osc(f, n, "sine", c.rng) * (1 + 0.5 * np.sin(2 * np.pi * c.u(25, 45) * tt)) + 0.2 * bandpass(noise(c.rng, n), 2000, 6000)
        place(out, x * adsr(n, 0.01, 0.05), t)
        t += n / SR + c.u(0.1, 0.4)
    return _room(c, out[: ns(t + 0.3)], 0.1, 0.4)


@recipe("human_whistle", "voice", "someone whistles a tune|a person whistles a little melody",
        "someone whistling a tune|a whistled melody", tags="whistle")
def human_whistle(c: Ctx) -> np.ndarray:
    root = c.u(900, 1500)
    notes = [root * 2 ** (c.pick([0, 2, 4, 5, 7, 9, 12]) / 12) for _ in range(c.i(5, 12))]
    fr = np.concatenate([np.full(ns(c.u(0.15, 0.5)), f) for f in notes])
    fr = np.convolve(fr, np.ones(300) / 300, mode="same")
    n = fr.size
    x = osc(fr * (1 + 0.01 * np.sin(2 * np.pi * 5 * secs(n))), n, "sine", c.rng) + 0.1 * bandpass(noise(c.rng, n), 800, 3000)
    return _room(c, x * adsr(n, 0.05, 0.1))


@recipe("wolf_whistle", "voice", "someone gives a wolf whistle|a two-note whistle rises and falls",
        "a wolf whistle|a rising then falling whistle", tags="whistle")
def wolf_whistle(c: Ctx) -> np.ndarray:
    n1, n2 = ns(c.u(0.25, 0.4)), ns(c.u(0.5, 0.8))
    f = np.concatenate([np.linspace(c.u(900, 1200), c.u(2200, 2800), n1), np.zeros(ns(0.1)),
                        np.linspace(c.u(2400, 3000), c.u(700, 1000), n2)])
    gate = np.concatenate([adsr(n1, 0.02, 0.03), np.zeros(ns(0.1)), adsr(n2, 0.03, 0.15)])
    x = osc(f, f.size, "sine", c.rng) * gate + 0.05 * bandpass(noise(c.rng, f.size), 1000, 4000) * gate
    return _room(c, x)


@recipe("car_horn", "vehicles", "a car honks its horn|a driver beeps the horn|a car horn blares",
        "a car horn|a honking car|the beep of a car horn", tags="horn,vehicle")
def car_horn(c: Ctx) -> np.ndarray:
    f = c.u(350, 500)
    out = np.zeros(ns(4))
    t = 0.05
    for _ in range(c.i(1, 3)):
        n = ns(c.pick([c.u(0.1, 0.25), c.u(0.5, 1.5)]))
        x = np.tanh(3 * (osc(f, n, "square", c.rng, 20) + osc(f * 1.25, n, "square", c.rng, 20)))
        place(out, bandpass(x, 250, 4000) * adsr(n, 0.01, 0.02), t)
        t += n / SR + c.u(0.1, 0.3)
    return reverb(c.rng, out[: ns(t + 0.3)], c.u(0.5, 1.5), c.u(0.1, 0.4))


@recipe("truck_horn", "vehicles", "a truck blasts its air horn|a lorry sounds its deep horn",
        "a truck's air horn|the deep blast of a lorry horn", tags="horn,vehicle")
def truck_horn(c: Ctx) -> np.ndarray:
    f = c.u(150, 280)
    n = ns(c.u(0.8, 2.5))
    x = sum(osc(f * r, n, "saw", c.rng, 30) for r in (1, 1.26, 1.5))
    return reverb(c.rng, np.concatenate([np.zeros(ns(0.05)), np.tanh(x) * adsr(n, 0.05, 0.1), np.zeros(ns(0.5))]),
                  c.u(1, 2), 0.3)


@recipe("foghorn", "vehicles", "a foghorn sounds over the sea|a ship's horn booms in the harbour",
        "a booming foghorn|a ship's horn|the low blast of a foghorn", tags="horn,boat")
def foghorn(c: Ctx) -> np.ndarray:
    f = c.u(70, 160)
    n = ns(c.u(1.5, 4))
    x = osc(f, n, "saw", c.rng, 40) + 0.6 * osc(f * 1.005, n, "saw", c.rng, 40)
    x = lowpass(np.tanh(1.5 * x), 1500) * adsr(n, 0.3, 0.5)
    x = np.concatenate([np.zeros(ns(0.05)), x, np.zeros(ns(2.5))])
    x += 0.1 * lowpass(noise(c.rng, x.size, "pink"), 600)  # sea
    return reverb(c.rng, x, c.u(2.5, 4), 0.5)


@recipe("train_horn", "vehicles", "a train sounds its horn|a diesel train blares its horn at a crossing",
        "a train horn|the loud horn of a passing train", tags="horn,train")
def train_horn(c: Ctx) -> np.ndarray:
    f = c.u(220, 330)
    out = np.zeros(ns(7))
    t = 0.05
    for _ in range(c.i(1, 4)):
        n = ns(c.pick([c.u(0.4, 0.8), c.u(1.2, 2.5)]))
        x = sum(osc(f * r, n, "saw", c.rng, 20) for r in (1, 1.19, 1.5))
        place(out, lowpass(np.tanh(x), 3000) * adsr(n, 0.05, 0.1), t)
        t += n / SR + c.u(0.2, 0.5)
    return reverb(c.rng, out[: ns(t + 0.8)], c.u(1.5, 3), 0.4)


@recipe("bike_horn", "vehicles", "a squeeze horn honks|a clown horn honks twice|a bicycle bulb horn toots",
        "a bulb horn honking|a squeezy clown horn", tags="horn,toy")
def bike_horn(c: Ctx) -> np.ndarray:
    out = np.zeros(ns(3))
    t = 0.05
    for _ in range(c.i(1, 3)):
        n = ns(c.u(0.2, 0.45))
        f = np.linspace(c.u(350, 500), c.u(300, 420), n)
        place(out, bandpass(np.tanh(3 * osc(f, n, "saw", c.rng, 20)), 300, 4000) * adsr(n, 0.01, 0.05), t)
        t += n / SR + c.u(0.1, 0.25)
    return _room(c, out[: ns(t + 0.2)], 0, 0.2)


@recipe("party_horn", "signals", "a party horn toots|someone blows a party blower",
        "a party horn|a party blower tooting", tags="horn,toy")
def party_horn(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.4, 1.2))
    f = c.u(400, 700) * (1 + 0.03 * np.sin(2 * np.pi * c.u(4, 9) * secs(n)))
    x = np.tanh(3 * osc(f, n, "saw", c.rng, 20)) + 0.3 * noise(c.rng, n)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), bandpass(x, 400, 5000) * adsr(n, 0.02, 0.1), np.zeros(ns(0.3))]))


@recipe("slide_whistle", "signals", "a slide whistle glides up and down|a slide whistle slides down comically",
        "a slide whistle|a sliding whistle glissando", tags="whistle,toy")
def slide_whistle(c: Ctx) -> np.ndarray:
    n = ns(c.u(0.6, 2.0))
    t = secs(n)
    lo, hi = c.u(500, 800), c.u(1600, 2600)
    f = lo + (hi - lo) * (np.sin(np.pi * t / (n / SR) * c.pick([0.5, 1.0, 1.5])) ** 2)
    if c.chance(0.5):
        f = f[::-1]
    x = osc(f, n, "sine", c.rng) + 0.08 * bandpass(noise(c.rng, n), 800, 4000)
    return _room(c, np.concatenate([np.zeros(ns(0.05)), x * adsr(n, 0.03, 0.05), np.zeros(ns(0.2))]))


@recipe("steam_whistle", "machines", "a factory steam whistle blows|a steam whistle shrieks at the end of the shift",
        "a factory whistle|a shrieking steam whistle", tags="whistle,steam")
def steam_whistle(c: Ctx) -> np.ndarray:
    n = ns(c.u(1.5, 4))
    f = c.u(500, 900)
    x = sum(osc(f * r, n, "sine", c.rng) * a for r, a in ((1, 1), (2, 0.4), (3, 0.2), (1.2, 0.5)))
    x += 0.5 * bandpass(noise(c.rng, n), 1500, 7000)
    return reverb(c.rng, np.concatenate([np.zeros(ns(0.05)), x * adsr(n, 0.2, 0.4), np.zeros(ns(0.6))]), 2.0, 0.4)
