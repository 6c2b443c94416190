#!/usr/bin/env python3
"""End-to-end tests of Tactus's Bridge inside real, headless Rack (driven by the TactusTest plugin).

    e2e.py patches OUTDIR     write OUTDIR/load.vcv, e2e.vcv and srate.vcv (plain patch JSON)
    e2e.py link RESULT        judge the link-follow Harness record (link-netns.sh)
    e2e.py check RESULTDIR    judge RESULTDIR/<scenario>.txt (written by TactusTest's Harness
                              modules); prints every figure, exits 1 when a check fails

Bridge's ids (src-cpp/Bridge.cpp): params IN_PPQN 0, OUT_PPQN 1-4, BPM 5, RESPONSE 6, CV_OFFSET 7,
MIDI_OFFSET 8, RUN 9, RESET 10; inputs CLOCK 0, RESET 1, RUN 2; outputs CLK 0-3, RESET 4, RUN 5,
BPM 6. Harness (tests/rack/src/TactusTest.cpp): inputs CLK 0-3, RESET 4, RUN 5, BPM 6; outputs
CLOCK 0, RESET 1, RUN 2. Times below are the Harness's engine time in seconds.
"""
import json
import math
import os
import sys

VERSION = "2.4.1"
PPQN_TABLE = [1, 2, 4, 8, 12, 16, 24, 48, 96]
OUT_PPQN = [1, 2, 4, 24]  # every Bridge here: its four outputs at 1, 2, 4, 24
LOOPBACK = -12


def loop_port(device):
    return {"driver": LOOPBACK, "deviceName": "Loopback %d" % (device + 1), "channel": -1}


def bridge(mid, in_ppqn=4, bpm=120.0, data=None, x=0):
    params = [{"id": 0, "value": PPQN_TABLE.index(in_ppqn)}]
    params += [{"id": 1 + i, "value": PPQN_TABLE.index(p)} for i, p in enumerate(OUT_PPQN)]
    params += [{"id": 5, "value": bpm}]
    m = {"id": mid, "plugin": "Tactus", "model": "Bridge", "version": "2.0.0", "params": params, "pos": [x, 0]}
    if data is not None:
        m["data"] = data
    return m


def harness(mid, data, x=0):
    return {"id": mid, "plugin": "TactusTest", "model": "Harness", "version": "2.0.0", "params": [], "pos": [x, 1], "data": data}


def stepper(mid, seconds, rates=()):
    return {"id": mid, "plugin": "TactusTest", "model": "Stepper", "version": "2.0.0", "params": [], "pos": [0, 2],
            "data": {"seconds": seconds, "rates": [list(r) for r in rates]}}


class Patch:
    def __init__(self):
        self.modules, self.cables = [], []

    def cable(self, out_mod, out_id, in_mod, in_id):
        self.cables.append({"id": len(self.cables) + 1, "outputModuleId": out_mod, "outputId": out_id,
                            "inputModuleId": in_mod, "inputId": in_id, "color": "#f3374b"})

    def pair(self, b, h, clock=True, reset=False, run=False):
        """Bridge b's outputs into Harness h; Harness's CLOCK/RESET/RUN into Bridge when asked."""
        for i in range(7):
            self.cable(b, i, h, i)
        if clock:
            self.cable(h, 0, b, 0)
        if reset:
            self.cable(h, 1, b, 1)
        if run:
            self.cable(h, 2, b, 2)

    def json(self):
        return {"version": VERSION, "modules": self.modules, "cables": self.cables}


END = 10.0  # seconds of each scenario in e2e.vcv
LINK_BPM = 133.0  # the Link peer's tempo in link-netns.sh
LINK_END = 6.0  # seconds the link-follow Harness records

# The state scenario: a Bridge saved with every option away from its default ...
# (MIDI IN on the Loopback driver with "(No device)", MIDI OUT on Loopback 12.)
# Link stays Off here (a test never enables Link outside a private network namespace; see
# link-netns.sh), its other options are changed.
STATE_DATA = {"pulseWidth": 3, "inputLevel": 1, "sppOnReset": False, "runRestarts": True, "running": False,
              "linkMode": 0, "linkQuantum": 7, "linkStartStop": True, "linkOffsetMs": -10.0,
              "midiInput": {"driver": LOOPBACK, "channel": -1}, "midiOutput": loop_port(11)}
# ... and data no Bridge ever wrote: wrong types, out-of-range values, unknown drivers. Each
# loads as a new Bridge's defaults, except where GARBAGE_KEEPS names what is kept: a known
# driver whose saved device is absent keeps the driver with "(No device)".
GARBAGE_KEEPS = {6: {"midiOutput": {"driver": LOOPBACK, "channel": 0}}}
GARBAGE = [
    None, 42, "text", [1, 2, 3], {},
    {"pulseWidth": "3", "inputLevel": 1.5, "sppOnReset": 0, "runRestarts": "yes", "running": "no",
     "linkMode": "1", "linkQuantum": 99, "linkStartStop": 1, "linkOffsetMs": "x",
     "midiInput": {"driver": "-12", "deviceName": 5, "channel": "x"}, "midiOutput": [1, 2]},
    {"pulseWidth": 99, "inputLevel": -1, "sppOnReset": None, "running": 1, "linkMode": 9, "linkQuantum": 0, "linkOffsetMs": None,
     "midiInput": {"driver": 424242, "deviceName": "No such device"}, "midiOutput": {"driver": -12, "deviceName": "Loopback 99", "channel": 77}},
    {"pulseWidth": -1, "midiInput": {"driver": None}, "midiOutput": {"deviceName": None}},
]


def patches(outdir):
    os.makedirs(outdir, exist_ok=True)
    p = Patch()
    p.modules.append(stepper(1, END + 1.0))
    # (a) PPQN conversion: input clock at 1/2/4/24 PPQN, 120 BPM.
    for k, ppqn in enumerate([1, 2, 4, 24]):
        b, h = 10 + k, 20 + k
        p.modules.append(bridge(b, in_ppqn=ppqn))
        p.modules.append(harness(h, {"name": "ppqn%d" % ppqn, "end": END, "cvClock": {"bpm": 120, "ppqn": ppqn, "start": 0.1}}))
        p.pair(b, h)
    # (b) CV clock (4 PPQN, 137 BPM) -> MIDI clock out through Loopback 2.
    p.modules.append(bridge(30, in_ppqn=4, data={"midiOutput": loop_port(1)}))
    p.modules.append(harness(31, {"name": "midiout", "end": END, "midiInDevice": 1, "cvClock": {"bpm": 137, "ppqn": 4, "start": 0.1}}))
    p.pair(30, 31)
    # (c) MIDI clock in (Start, then 24 PPQN at 120 BPM through Loopback 3) -> CV clocks; CLOCK unpatched.
    p.modules.append(bridge(40, data={"midiInput": loop_port(2)}))
    p.modules.append(harness(41, {"name": "midiin", "end": END, "midiOutDevice": 2, "midiSends": [[0.09, 0xFA]],
                                  "midiClock": {"bpm": 120, "start": 0.1}}))
    p.pair(40, 41, clock=False)
    # (d) RUN / RESET: 4 PPQN at 120 BPM (pulses at 0.1 + k/8 s); RUN low 4.03-6.03 s; RESET
    # while stopped (5 s), 1 ms before pulse 58 (7.35 s, the third pulse of a beat) and 1 ms
    # after pulse 71 (8.975 s, the second pulse of a beat counted from 7.35 s). MIDI out to
    # Loopback 4.
    p.modules.append(bridge(50, data={"midiOutput": loop_port(3)}))
    p.modules.append(harness(51, {"name": "runreset", "end": END, "midiInDevice": 3, "cvClock": {"bpm": 120, "ppqn": 4, "start": 0.1},
                                  "run": [[4.03, 0.0], [6.03, 10.0]], "resets": [5.0, 7.349, 8.976]}))
    p.pair(50, 51, reset=True, run=True)
    # (f) Transport like a sequencer's: 4 PPQN at 120 BPM, the clock pausing with RUN. Stop
    # after step 17 (2.26 s) for 2 s; RUN rises 2 ms before step 18 (4.35 s): Continue.
    # Stop after step 31 (6.0 s) for 2 s; RESET at 8.097 s, RUN at 8.098 s, step 32 at 8.1 s:
    # Start. MIDI out to Loopback 6.
    p.modules.append(bridge(80, data={"midiOutput": loop_port(5)}))
    p.modules.append(harness(81, {"name": "transport", "end": END, "midiInDevice": 5,
                                  "cvClock": {"bpm": 120, "ppqn": 4, "start": 0.1, "pauses": [[2.26, 4.26], [6.0, 8.0]]},
                                  "run": [[2.26, 0.0], [4.348, 10.0], [6.0, 0.0], [8.098, 10.0]], "resets": [8.097]}))
    p.pair(80, 81, reset=True, run=True)
    # (g) Garbage on CLOCK while the clock is stopped: 24 PPQN at 120 BPM until 3 s, white
    # noise 3.5-5 s, a 5 kHz square 5.5-7 s, the clock again from 8 s. MIDI out to Loopback 7.
    p.modules.append(bridge(90, in_ppqn=24, data={"midiOutput": loop_port(6)}))
    p.modules.append(harness(91, {"name": "noise", "end": END, "midiInDevice": 6,
                                  "cvClock": {"bpm": 120, "ppqn": 24, "start": 0.1, "pauses": [[3.0, 8.0]]},
                                  "noise": [[3.5, 5.0, "white"], [5.5, 7.0, "square"]]}))
    p.pair(90, 91)
    # 4. Patch state: a Bridge with every option changed, Bridges loaded from garbage data.
    p.modules.append(bridge(70, in_ppqn=24, bpm=77.0, data=STATE_DATA))
    for k, g in enumerate(GARBAGE[:4]):
        p.modules.append(bridge(71 + k, data=g))
    p.modules.append(harness(79, {"name": "state", "end": 0.2, "state": {"target": 70, "garbage": GARBAGE, "patchGarbage": [71, 72, 73, 74]}}))
    with open(os.path.join(outdir, "e2e.vcv"), "w") as f:
        json.dump(p.json(), f, indent=1)

    # The load test (real-time, run-headless.sh): two Bridges, the first on its master tempo
    # sending MIDI clock through Loopback 1 to the second, which follows it.
    ld = Patch()
    ld.modules.append(bridge(1, data={"midiOutput": loop_port(0)}))
    ld.modules.append(bridge(2, data={"midiInput": loop_port(0), "pulseWidth": 3, "running": True}, x=20))
    with open(os.path.join(outdir, "load.vcv"), "w") as f:
        json.dump(ld.json(), f, indent=1)

    # Link (link-netns.sh, inside a private network namespace only): one Bridge with Link off
    # (the default), one following a session.
    # The following Bridge is recorded by a Harness while a plain Link peer (link_peer) holds
    # the session at LINK_BPM.
    for name, data in [("link-off", None), ("link-follow", {"linkMode": 1})]:
        lk = Patch()
        lk.modules.append(bridge(1, data=data))
        if data:
            lk.modules.append(harness(2, {"name": "linkfollow", "end": LINK_END}))
            lk.pair(1, 2, clock=False)
        with open(os.path.join(outdir, name + ".vcv"), "w") as f:
            json.dump(lk.json(), f, indent=1)

    # (e) Sample rate 44.1 kHz, then 96 kHz from 6 s on; 4 PPQN at 100 BPM; MIDI out to Loopback 5.
    s = Patch()
    s.modules.append(stepper(1, END + 1.0, rates=[(0.0, 44100), (6.0, 96000)]))
    s.modules.append(bridge(60, data={"midiOutput": loop_port(4)}))
    s.modules.append(harness(61, {"name": "srate", "end": END, "midiInDevice": 4, "cvClock": {"bpm": 100, "ppqn": 4, "start": 0.1}}))
    s.pair(60, 61)
    with open(os.path.join(outdir, "srate.vcv"), "w") as f:
        json.dump(s.json(), f, indent=1)


# ---- judging -----------------------------------------------------------------------------------

class Run:
    """One Harness's record."""

    def __init__(self, path):
        self.name = os.path.basename(path)[:-4]
        self.clocks, self.msent, self.midi, self.bpm, self.rates, self.runs, self.resets = [], [], [], [], [], [], []
        self.edges = {i: [] for i in range(6)}  # port -> [(level, frame, t)]
        self.state = {}
        self.end = None
        with open(path) as f:
            for line in f:
                w = line.split()
                if not w or w[0].startswith("#"):
                    continue
                k = w[0]
                if k == "in":
                    self.edges[int(w[1])].append((int(w[2]), int(w[3]), float(w[4])))
                elif k == "clock":
                    self.clocks.append((int(w[1]), float(w[2])))
                elif k == "msent":
                    self.msent.append((int(w[1]), float(w[2]), w[3:]))
                elif k == "midi":
                    self.midi.append((int(w[1]), int(w[2]), float(w[3]), w[4:]))
                elif k == "bpm":
                    self.bpm.append((int(w[1]), float(w[2]), float(w[3])))
                elif k == "rate":
                    self.rates.append((int(w[1]), float(w[2]), float(w[3])))
                elif k == "run":
                    self.runs.append((int(w[1]), float(w[2]), float(w[3])))
                elif k == "reset":
                    self.resets.append((int(w[1]), float(w[2])))
                elif k == "state":
                    self.state[w[1]] = line.split(None, 2)[2].strip() if len(w) > 2 else ""
                elif k == "end":
                    self.end = float(w[2])

    def rising(self, port):
        return [(f, t) for lv, f, t in self.edges[port] if lv == 1]

    def rate_at(self, t):
        r = 48000.0
        for _, t0, sr in self.rates:
            if t0 <= t:
                r = sr
        return r


class Judge:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, ok, what):
        print("  %s %s" % ("ok  " if ok else "FAIL", what))
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def window_counts(run, pulses, per_beat, t_from, t_to):
    """Whole beats of the input: pulses[i0] .. pulses[i1] with i1 - i0 a multiple of per_beat,
    boundaries moved half a 24 PPQN period earlier (midway between output grid points)."""
    times = [t for _, t in pulses]
    i0 = next(i for i, t in enumerate(times) if t >= t_from)
    i1 = max(i for i, t in enumerate(times) if t <= t_to)
    beats = (i1 - i0) // per_beat
    i1 = i0 + beats * per_beat
    beat = (times[i1] - times[i0]) / beats
    lo, hi = times[i0] - beat / 48, times[i1] - beat / 48
    counts = [sum(1 for _, t in run.rising(p) if lo <= t < hi) for p in range(4)]
    return beats, lo, hi, counts, beat


def judge_counts(j, run, pulses, per_beat, t_from, t_to, label):
    beats, lo, hi, counts, beat = window_counts(run, pulses, per_beat, t_from, t_to)
    want = [beats * p for p in OUT_PPQN]
    j.check(counts == want, "%s: %d input beats (%.3f-%.3f s, %.2f BPM): CLK1-4 pulses %s, want %s"
            % (label, beats, lo, hi, 60.0 / beat, counts, want))
    return lo, hi, beat


# A cable delivers a voltage one frame later (Rack steps the cables after the modules): Bridge
# sees the Harness's clock pulse one frame after it was sent, and the Harness sees Bridge's
# output one frame after Bridge set it.
CABLE = 1


def grid_error_frames(run, port, lo, hi, step, t0):
    """Largest distance (in frames) of the output's rising edges in [lo, hi), as Bridge set them,
    from the input grid t0 + k*step as Bridge received it."""
    worst = 0.0
    for f, t in run.rising(port):
        if lo <= t < hi:
            k = round((t - t0) / step)
            worst = max(worst, abs((t - (t0 + k * step)) * run.rate_at(t) - 2 * CABLE))
    return worst


def f8_frames(run):
    return [m for m in run.midi if m[3] == ["f8"]]


def judge_ppqn(j, run, ppqn):
    print("(a) %s: CV clock at %d PPQN, 120 BPM -> CLK1-4 at 1/2/4/24 PPQN" % (run.name, ppqn))
    lo, hi, beat = judge_counts(j, run, run.clocks, ppqn, 3.0, END - 0.6, run.name)
    t0 = next(t for _, t in run.clocks if t >= 3.0)
    err = grid_error_frames(run, 3, lo, hi, beat / 24, t0)
    j.check(err <= 1.5, "%s: CLK4 (24 PPQN) edges within %.2f frames of the input's 24 PPQN grid (limit 1.5)" % (run.name, err))
    first = run.rising(0)[0][1] if run.rising(0) else None
    print("  figures: first CLK1 pulse at %s s, input pulses %d" % (first, len(run.clocks)))


def judge_midi_clock(j, run, label, t_from, t_to, beat_s):
    f8 = f8_frames(run)
    frames = [m[0] for m in f8]
    j.check(len(frames) == len(set(frames)), "%s: %d MIDI clocks, never two in one frame" % (label, len(frames)))
    late = max((m[1] - m[0] for m in f8), default=0)
    j.check(all(m[1] >= m[0] for m in f8) and late <= 1, "%s: every message frame-stamped (popped at most %d frame after its stamp)" % (label, late))
    sel = [m for m in f8 if t_from <= m[2] <= t_to]
    ints = [b[0] - a[0] for a, b in zip(sel, sel[1:])]
    want = beat_s / 24 * run.rate_at(t_from)
    dev = max(abs(i - want) for i in ints)
    j.check(dev <= 2.0, "%s: 0xF8 spacing %d-%d frames in %.1f-%.1f s, expected %.2f (max deviation %.2f frames, limit 2)"
            % (label, min(ints), max(ints), t_from, t_to, want, dev))
    gaps = [b[2] - a[2] for a, b in zip(f8, f8[1:])]
    j.check(min(gaps) >= beat_s / 48, "%s: no burst over the whole run: closest two 0xF8 %.2f ms apart (limit %.2f ms, half a clock)"
            % (label, min(gaps) * 1e3, beat_s / 48 * 1e3))
    return sel


def judge_midiout(j, run):
    print("(b) midiout: CV clock 4 PPQN at 137 BPM -> MIDI clock out via Loopback, frame-stamped")
    beat = 60.0 / 137
    lo, hi, _ = judge_counts(j, run, run.clocks, 4, 3.0, END - 0.6, "midiout CV")
    judge_midi_clock(j, run, "midiout", 3.0, END - 0.6, beat)
    n = sum(1 for m in f8_frames(run) if lo <= m[2] < hi)
    beats = round((hi - lo) / beat)
    j.check(n == 24 * beats, "midiout: %d 0xF8 in %d beats (want %d)" % (n, beats, 24 * beats))
    # The MIDI clock and the 24 PPQN CV output come from the same beat (both offsets 0).
    cv = [f for f, t in run.rising(3) if lo <= t < hi]
    mf = [m[0] for m in f8_frames(run) if lo <= m[2] < hi]
    if len(cv) == len(mf):
        d = [a - (b - CABLE) for a, b in zip(mf, cv)]
        j.check(max(abs(x) for x in d) <= 1, "midiout: each 0xF8 is stamped with the frame of its CLK4 pulse: %d..%d frames apart (limit 1)" % (min(d), max(d)))
    else:
        j.check(False, "midiout: %d 0xF8 vs %d CLK4 edges in the window" % (len(mf), len(cv)))


def judge_midiin(j, run):
    print("(c) midiin: MIDI Start + clock at 120 BPM via Loopback -> CLK1-4 (CLOCK unpatched)")
    sent = [(f, t) for f, t, b in run.msent if b == ["f8"]]
    judge_counts(j, run, sent, 24, 3.0, END - 0.6, "midiin")
    first = run.rising(0)[0] if run.rising(0) else None
    print("  figures: %d clocks sent, first CLK1 at %s" % (len(sent), first))


def between(edges, lo, hi):
    return [(f, t) for f, t in edges if lo <= t < hi]


def judge_runreset(j, run):
    print("(d) runreset: RUN gate and RESET trigger, 4 PPQN at 120 BPM")
    fall = next(r for r in run.runs if r[2] == 0.0)
    rise = next(r for r in run.runs if r[2] > 0.0 and r[1] > fall[1])
    stopped_reset, reset, late_reset = run.resets
    # Running before the stop: whole beats counted.
    judge_counts(j, run, run.clocks, 4, 1.5, fall[1] - 0.2, "runreset before stop")
    silent = [(p + 1, len(between(run.rising(p), fall[1] + 0.011, rise[1]))) for p in range(4)]
    j.check(all(n == 0 for _, n in silent), "RUN low %.3f-%.3f s: no CLK pulses (counts %s)" % (fall[1], rise[1], [n for _, n in silent]))
    runout = run.edges[5]
    off = [e for e in runout if e[0] == 0 and fall[1] <= e[2] < rise[1]]
    on = [e for e in runout if e[0] == 1 and e[2] >= rise[1]]
    j.check(len(off) == 1 and off[0][1] - fall[0] <= 2, "RUN out falls %s frames after RUN in" % ([e[1] - fall[0] for e in off],))
    j.check(len(on) >= 1 and on[0][1] - rise[0] <= 2, "RUN out rises %s frames after RUN in" % ([e[1] - rise[0] for e in on][:1],))
    # The RESET while stopped fired RESET out (2 ms later: a RUN rise within that would have
    # made it a start); the RUN rise a second later resumes (Continue) and fires none.
    rst = [f for f, t in run.rising(4) if stopped_reset[1] <= t < stopped_reset[1] + 0.01]
    j.check(len(rst) == 1, "RESET while stopped fires RESET out once (%d)" % len(rst))
    rst = [f for f, t in run.rising(4) if rise[1] <= t < rise[1] + 0.1]
    j.check(rst == [], "a RUN rise on its own fires no RESET out (%s)" % rst)
    # The reset while stopped put the song position at 0: the count resumes there, beat 1 on
    # the next input pulse.
    nxt = next(c for c in run.clocks if c[1] >= rise[1])
    clk1 = [f for f, t in run.rising(0) if t >= rise[1]]
    j.check(bool(clk1) and abs(clk1[0] - nxt[0]) <= 2,
            "continue from Song Position 0: beat 1 (CLK1) on the next input pulse (%.4f s): %s frames off" % (nxt[1], [clk1[0] - nxt[0]] if clk1 else None))
    # RESET 1 ms before a mid-beat pulse: that pulse becomes beat 1.
    target = next(c for c in run.clocks if c[1] >= reset[1])
    clk1 = [(f, t) for f, t in run.rising(0) if t >= reset[1] - 0.002]
    j.check(bool(clk1) and abs(clk1[0][0] - target[0]) <= 2,
            "RESET at %.4f s: CLK1 on the next input pulse (%.4f s), %s frames off" % (reset[1], target[1], [clk1[0][0] - target[0]] if clk1 else None))
    after = [c for c in run.clocks if c[1] >= target[1]]
    if len(clk1) >= 3 and len(after) > 8:
        j.check(abs(clk1[1][0] - after[4][0]) <= 2 and abs(clk1[2][0] - after[8][0]) <= 2,
                "after RESET the beats stay on pulses +4, +8 (%d, %d frames off)" % (clk1[1][0] - after[4][0], clk1[2][0] - after[8][0]))
        n24 = len([1 for f, t in run.rising(3) if clk1[0][1] - 0.01 <= t < clk1[1][1] - 0.01])
        j.check(n24 == 24, "first beat after RESET has %d CLK4 pulses (want 24)" % n24)
    rst = [f for f, t in run.rising(4) if reset[1] - 0.01 <= t < reset[1] + 0.05]
    j.check(len(rst) == 1, "RESET in fires RESET out once (%d)" % len(rst))
    # MIDI: Stop at the fall, Start at the rise (or on the next beat) and at the reset.
    msgs = [(m[0], m[2], m[3]) for m in run.midi if m[3] != ["f8"]]
    print("  figures: MIDI transport messages %s" % [("%.4f" % t, " ".join(b)) for f, t, b in msgs])
    stop = [m for m in msgs if m[2] == ["fc"] and fall[1] <= m[1] < fall[1] + 0.01]
    j.check(len(stop) == 1, "RUN falling sends MIDI Stop (0xFC) within 10 ms")
    conts = [m for m in msgs if m[2] == ["fb"] and rise[1] <= m[1] < reset[1]]
    starts = [m for m in msgs if m[2] == ["fa"] and rise[1] <= m[1] < reset[1]]
    j.check(len(conts) == 1 and not starts and conts[0][0] <= nxt[0] + 2,
            "RUN rising sends one MIDI Continue (0xFB), no Start, by the next beat")
    spp2 = [m for m in msgs if m[2][0] == "f2" and rise[1] - 0.01 <= m[1] < rise[1] + 0.01]
    j.check(spp2 == [], "no Song Position before that Continue: the receiver is already at 0 (%s)" % spp2)
    rs = [m for m in msgs if m[2] == ["fa"] and reset[1] - 0.01 <= m[1] < target[1] + 0.01]
    j.check(len(rs) == 1, "RESET while running sends MIDI Start")
    spp = [m for m in msgs if stopped_reset[1] <= m[1] < stopped_reset[1] + 0.01]
    j.check([m[2] for m in spp] == [["f2", "00", "00"]], "RESET while stopped sends Song Position 0 (F2 00 00): %s" % [m[2] for m in spp])
    # RESET 1 ms after a mid-beat pulse: that pulse is beat 1, so CLK1 fires at once (within
    # 2 ms of it) and the next beat comes 4 pulses after it.
    prev = [c for c in run.clocks if c[1] <= late_reset[1]][-1]
    nxt4 = [c for c in run.clocks if c[1] > prev[1]][3]
    clk1 = [(f, t) for f, t in run.rising(0) if late_reset[1] <= t]
    ok = len(clk1) >= 2 and clk1[0][1] - prev[1] <= 0.0025 and abs(clk1[1][0] - nxt4[0]) <= 2
    j.check(ok, "RESET %.1f ms after the pulse at %.4f s: CLK1 %s ms after that pulse, next CLK1 %s frames from 4 pulses later"
            % ((late_reset[1] - prev[1]) * 1e3, prev[1], "%.2f" % ((clk1[0][1] - prev[1]) * 1e3) if clk1 else None,
               clk1[1][0] - nxt4[0] if len(clk1) > 1 else None))


def judge_srate(j, run):
    print("(e) srate: 4 PPQN at 100 BPM, engine sample rate 44.1 kHz then 96 kHz")
    print("  figures: rates seen by the module %s" % [("%.3f s" % t, sr) for _, t, sr in run.rates])
    change = [r for r in run.rates if r[2] == 96000.0]
    if not j.check(bool(change) and any(r[2] == 44100.0 for r in run.rates), "engine ran at 44.1 kHz, then at 96 kHz"):
        return
    tc = change[0][1]
    lo, hi, beat = judge_counts(j, run, run.clocks, 4, 2.0, END - 0.6, "srate across the change")
    j.check(lo < tc < hi, "the counting window %.2f-%.2f s contains the change at %.3f s" % (lo, hi, tc))
    want = math.log2(100 / 120)
    before = [v for _, t, v in run.bpm if 2.0 <= t < tc]
    after = [v for _, t, v in run.bpm if tc <= t < END]
    db = max(abs(v - want) for v in before)
    da = max(abs(v - want) for v in after)
    j.check(db < 0.005 and da < 0.005, "BPM out stays at %.4f V (100 BPM): max error %.5f V before, %.5f V after" % (want, db, da))
    for a, b, label in ((2.0, tc - 0.05, "44.1 kHz"), (tc + 0.05, END - 0.1, "96 kHz")):
        err = grid_error_frames(run, 3, a, b, beat / 24, next(t for _, t in run.clocks if t >= a))
        # A frame of output rounding, plus what the tracker follows of the input's own frame
        # quantization across the change (its bias and jitter averages restart with the new
        # rate): at most 2 frames, 21 µs at 96 kHz.
        j.check(err <= 2.0, "srate %s: CLK4 edges within %.2f frames of the input's 24 PPQN grid (limit 2)" % (label, err))
    judge_midi_clock(j, run, "srate 44.1 kHz", 2.0, tc - 0.05, 0.6)
    judge_midi_clock(j, run, "srate 96 kHz", tc + 0.2, END - 0.1, 0.6)


def json_eq(a, b):
    return json.loads(a) == json.loads(b)


def judge_state(j, run):
    print("4. state: dataToJson / dataFromJson / onReset inside Rack")
    st = run.state
    target = json.loads(st["target"])
    defaults = json.loads(st["defaults"])
    print("  figures: saved %s" % st["target"])
    print("  figures: defaults %s" % st["defaults"])
    j.check(target == STATE_DATA, "the patch's Bridge saves exactly what the patch loaded (every option, MIDI devices, run state)")
    j.check(json_eq(st["roundtrip"], st["target"]), "a fresh module loaded from it saves the same")
    j.check(json_eq(st["roundtrip-stepped"], st["target"]), "... and still after 4800 samples of process()")
    j.check(float(st["roundtrip-run-out"]) == 0.0, "... and it is stopped (RUN out %s V)" % st["roundtrip-run-out"])
    j.check(json_eq(st["reset"], st["defaults"]), "Initialize (onReset) restores the default options and MIDI ports")
    j.check(st["reset-params"] == st["default-params"], "Initialize restores the default params (%s)" % st["reset-params"])
    # README's defaults: input 4 PPQN, outputs 1/2/4/24, 120 BPM, response about 64 %, offsets 0.
    d = [float(x) for x in st["default-params"].split()]
    want = [PPQN_TABLE.index(4)] + [PPQN_TABLE.index(p) for p in OUT_PPQN] + [120.0]
    j.check(d[:6] == want and 0.63 <= d[6] <= 0.65 and d[7:9] == [0.0, 0.0],
            "a new Bridge has README's defaults (PPQN indices, BPM %s, response %.3f, offsets %s)" % (d[5], d[6], d[7:9]))
    j.check(float(st["reset-run-out"]) == 10.0 and float(st["defaults-run-out"]) == 10.0,
            "Initialize leaves it running like a new one (RUN out %s V, new %s V)" % (st["reset-run-out"], st["defaults-run-out"]))
    for idx, got in run.garbage_lines:
        want = dict(defaults, **GARBAGE_KEEPS.get(idx, {}))
        j.check(json.loads(got) == want, "garbage %s loads, runs and saves as defaults%s: %s"
                % (json.dumps(GARBAGE[idx]), " (keeping %s)" % json.dumps(GARBAGE_KEEPS[idx]) if idx in GARBAGE_KEEPS else "", got))
    for mid, got in run.patch_garbage:
        j.check(got != "null" and json.loads(got) == defaults, "patch Bridge %d loaded by Rack from %s saves as defaults"
                % (mid, json.dumps(GARBAGE[mid - 71])))


def load_state_lines(run, path):
    run.garbage_lines, run.patch_garbage = [], []
    with open(path) as f:
        for line in f:
            w = line.split(None, 3)
            if len(w) == 4 and w[0] == "state" and w[1] == "garbage":
                run.garbage_lines.append((int(w[2]), w[3].strip()))
            elif len(w) == 4 and w[0] == "state" and w[1] == "patch-garbage":
                run.patch_garbage.append((int(w[2]), w[3].strip()))


def judge_transport(j, run):
    print("(f) transport: a sequencer's clock pausing with RUN, 4 PPQN at 120 BPM")
    (stop1, rise1, stop2, rise2) = run.runs
    steps = run.clocks  # the sequencer's steps, k = 0, 1, ...
    msgs = [(m[0], m[2], m[3]) for m in run.midi if m[3] != ["f8"]]
    print("  figures: MIDI transport messages %s" % [("%.4f" % t, " ".join(b)) for f, t, b in msgs])
    beats = run.rising(0)

    def step_at(f):
        near = [k for k, (sf, _) in enumerate(steps) if abs(sf - f) <= 2]
        return near[0] if near else None

    load = [m for m in msgs if m[1] < 0.05]
    j.check(load == [], "no transport message while the patch loads (RUN high a frame late): %s" % load)
    # Before the first stop: beat 1 on step 0, beats on steps 0, 4, ... 16.
    first = [step_at(f) for f, t in beats if t < stop1[1]]
    j.check(first == [0, 4, 8, 12, 16], "beats before the stop on steps %s (want 0, 4, 8, 12, 16)" % first)
    # RUN rose 2 ms before step 18: Continue, and the first tick comes with step 18, not at the
    # RUN edge; the count resumes, so the beats stay on the sequencer's steps 20, 24, 28.
    k18 = 18
    sixteenths = [(f, t) for f, t in run.rising(2) if t >= rise1[1]]
    j.check(bool(sixteenths) and abs(sixteenths[0][0] - steps[k18][0]) <= 2,
            "after a RUN rise 2 ms before the clock the first CLK3 tick comes with it: %s frames off"
            % ([sixteenths[0][0] - steps[k18][0]] if sixteenths else None))
    resumed = [step_at(f) for f, t in beats if rise1[1] <= t < stop2[1]]
    j.check(resumed == [20, 24, 28], "beats after the continue on steps %s (want 20, 24, 28)" % resumed)
    conts = [m for m in msgs if m[2] == ["fb"] and rise1[1] <= m[1] < stop2[1]]
    starts = [m for m in msgs if m[2] == ["fa"] and rise1[1] <= m[1] < stop2[1]]
    j.check(len(conts) == 1 and not starts and abs(conts[0][0] - steps[k18][0]) <= 2,
            "MIDI Continue (0xFB), not Start, with step 18 (%s)" % [(m[0] - steps[k18][0]) for m in conts])
    # The MIDI clock ran on between step 17 and the stop, so the receiver stopped a few clocks
    # into step 17; the count resumes at step 18 (Song Position 18), which Continue follows.
    spp = [m[2] for m in msgs if m[2][0] == "f2" and rise1[1] - 0.001 <= m[1] < stop2[1]]
    j.check(spp == [["f2", "12", "00"]], "Song Position 18 before the Continue: %s" % spp)
    rst = [f for f, t in run.rising(4) if stop1[1] <= t < stop2[1]]
    j.check(rst == [], "no RESET out for a continue (%s)" % rst)
    # RESET 1 ms before RUN, 3 ms before step 32: a start, beat 1 on step 32, RESET out with
    # that beat (not on the RUN edge), MIDI Start before its clock.
    k32 = 32
    restarted = [step_at(f) for f, t in beats if t >= rise2[1]]
    j.check(restarted[:3] == [32, 36, 40], "beats after RUN + RESET on steps %s (want 32, 36, 40)" % restarted[:3])
    rst = [f for f, t in run.rising(4) if t >= stop2[1]]
    j.check(len(rst) == 1 and abs(rst[0] - steps[k32][0]) <= 2,
            "RESET out once, with beat 1 (%s frames from step 32)" % [f - steps[k32][0] for f in rst])
    starts = [m for m in msgs if m[2] == ["fa"] and m[1] >= rise2[1] - 0.01]
    clk = [m for m in run.midi if m[3] == ["f8"] and m[2] >= rise2[1]]
    j.check(len(starts) == 1 and bool(clk) and starts[0][0] <= clk[0][0],
            "MIDI Start (0xFA) before the first clock of beat 1")


def judge_noise(j, run):
    print("(g) noise: white noise and a 5 kHz square on CLOCK while the clock is stopped")
    last = [t for _, t in run.clocks if t < 3.0][-1]
    period = 0.5 / 24
    clocks = [m for m in run.midi if m[3] == ["f8"]]
    during = [m for m in clocks if last + 1.5 * period < m[2] < 8.0]
    j.check(during == [], "no MIDI clock from %.3f s (the first missing pulse + half a period) to 8 s: %d"
            % (last + 1.5 * period, len(during)))
    cv = [sum(1 for _, t in run.rising(p) if last + 1.5 * period < t < 8.0) for p in range(4)]
    j.check(cv == [0, 0, 0, 0], "no CLK pulses during the noise: %s" % cv)
    before = [v for _, t, v in run.bpm if 2.5 <= t < 3.0]
    held = [v for _, t, v in run.bpm if 3.0 <= t < 8.0]
    ok = bool(before) and bool(held) and max(abs(v - before[-1]) for v in held) < 0.005
    j.check(ok, "BPM out held at %.4f V through the noise (range %.4f..%.4f V)"
            % (before[-1] if before else float("nan"), min(held) if held else 0, max(held) if held else 0))
    back = [m for m in clocks if m[2] >= 8.0]
    j.check(len(back) >= 24 * 3, "the clock is followed again after the noise: %d MIDI clocks in 2 s" % len(back))



def check(resdir, names):
    j = Judge()
    for name in names:
        path = os.path.join(resdir, name + ".txt")
        if not os.path.exists(path):
            j.check(False, "%s: no result file %s (the Harness never reached its end)" % (name, path))
            continue
        run = Run(path)
        if name.startswith("ppqn"):
            judge_ppqn(j, run, int(name[4:]))
        elif name == "midiout":
            judge_midiout(j, run)
        elif name == "midiin":
            judge_midiin(j, run)
        elif name == "runreset":
            judge_runreset(j, run)
        elif name == "transport":
            judge_transport(j, run)
        elif name == "noise":
            judge_noise(j, run)
        elif name == "srate":
            judge_srate(j, run)
        elif name == "state":
            load_state_lines(run, path)
            judge_state(j, run)
    print("e2e: %d checks passed, %d failed" % (j.passed, j.failed))
    return 1 if j.failed else 0


SCENARIOS = {"e2e": ["ppqn1", "ppqn2", "ppqn4", "ppqn24", "midiout", "midiin", "runreset", "transport", "noise", "state"],
             "srate": ["srate"]}

def judge_link(path):
    """A Bridge following a Link peer at LINK_BPM, recorded in real-time headless Rack."""
    print("link: a Bridge following a Link peer at %g BPM in headless Rack" % LINK_BPM)
    j = Judge()
    run = Run(path)
    want_v = math.log2(LINK_BPM / 120.0)
    late = [v for _, t, v in run.bpm if t >= 3.0]
    j.check(bool(late) and all(abs(v - want_v) < 1e-4 for v in late),
            "BPM out is the session's tempo from 3 s on: %s V (want %.5f V)"
            % (sorted(set("%.5f" % v for v in late)), want_v))
    # Headless Rack has no audio device: its engine thread paces itself by the system clock, so
    # its frames are not exactly 1/48000 s of wall time, and the filtered block times make Bridge
    # follow Link in wall time. So: CLK 1 within 2 % of the nominal period (the engine's rate
    # error), steady, and never a burst (one catch-up interval after an engine stall allowed).
    beats = [f for f, t in run.rising(0) if t >= 3.0]
    period = 48000.0 * 60.0 / LINK_BPM
    d = [b - a for a, b in zip(beats, beats[1:])]
    close = [x for x in d if abs(x - period) <= 0.02 * period]
    j.check(len(d) >= 4 and len(close) >= len(d) - 1 and all(x >= period / 2 for x in d),
            "CLK 1 every %.1f frames (nominal) from 3 s on, within 2 %%, no burst: %s (engine at about %.0f frames per wall second)"
            % (period, d, 48000.0 * (sum(close) / len(close)) / period if close else 0.0))
    print("link: %d checks passed, %d failed" % (j.passed, j.failed))
    return 1 if j.failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "patches":
        patches(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "link":
        sys.exit(judge_link(sys.argv[2]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        names = sys.argv[3:] or SCENARIOS["e2e"] + SCENARIOS["srate"]
        sys.exit(check(sys.argv[2], [n for arg in names for n in SCENARIOS.get(arg, [arg])]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
