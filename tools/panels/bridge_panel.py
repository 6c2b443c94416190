#!/usr/bin/env python3
"""Generate the Bridge module's panels (res/Bridge.svg, res/Bridge-dark.svg) and the widget
positions in src-cpp/Bridge.cpp from one layout table.

Rack draws panels with nanosvg, which ignores <text>: every label is converted to a path here
(fontTools, DejaVu Sans Condensed Bold, whose licence allows embedding outlines). Colours and
shapes use plain fill attributes and <rect>/<path>/<circle> only.

    python3 tools/panels/bridge_panel.py          # write res/*.svg and the layout block
    python3 tools/panels/bridge_panel.py --check  # exit 1 if any generated file is out of date

Needs: pip install fonttools; the DejaVu fonts (Debian: fonts-dejavu-core) or --font PATH.
"""

import argparse
import os
import re
import sys

from fontTools.pens.boundsPen import BoundsPen
from fontTools.pens.svgPathPen import SVGPathPen
from fontTools.pens.transformPen import TransformPen
from fontTools.ttLib import TTFont

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf"

HP = 18
W = HP * 5.08  # 91.44 mm
H = 128.5

# Seven columns, symmetric about the centre.
COL0 = 8.0
COL_STEP = (W - 2 * COL0) / 6
COLS = [COL0 + i * COL_STEP for i in range(7)]

ROW_KNOBS_IN = 62.0  # inputs and input/latency knobs
ROW_KNOBS_OUT = 82.0  # output PPQN knobs, buttons, BPM
ROW_OUT_LIGHTS = 90.0
ROW_JACKS_OUT = 105.0
BOX_TOP, BOX_BOTTOM = 93.2, 111.4

LCD = (5.0, 11.0, 66.5, 12.0)  # x, y, w, h (mm)
MIDI_Y = 28.6
MIDI_H = 28.0 / 3 * 2  # two LedDisplayChoice rows (driver, device)
MIDI_W = (W - 10.0 - 2.0) / 2
MIDI_IN = (5.0, MIDI_Y, MIDI_W, MIDI_H)
MIDI_OUT = (W - 5.0 - MIDI_W, MIDI_Y, MIDI_W, MIDI_H)
LIGHT_IN = (77.6, 15.0)
LIGHT_LOCK = (85.6, 15.0)

# Widget positions (mm, centres) written into src-cpp/Bridge.cpp.
POSITIONS = [
    ("CLOCK_INPUT", COLS[0], ROW_KNOBS_IN),
    ("RESET_INPUT", COLS[1], ROW_KNOBS_IN),
    ("RUN_INPUT", COLS[2], ROW_KNOBS_IN),
    ("IN_PPQN_PARAM", COLS[3], ROW_KNOBS_IN),
    ("RESPONSE_PARAM", COLS[4], ROW_KNOBS_IN),
    ("CV_OFFSET_PARAM", COLS[5], ROW_KNOBS_IN),
    ("MIDI_OFFSET_PARAM", COLS[6], ROW_KNOBS_IN),
    ("OUT_PPQN_PARAM_1", COLS[0], ROW_KNOBS_OUT),
    ("OUT_PPQN_PARAM_2", COLS[1], ROW_KNOBS_OUT),
    ("OUT_PPQN_PARAM_3", COLS[2], ROW_KNOBS_OUT),
    ("OUT_PPQN_PARAM_4", COLS[3], ROW_KNOBS_OUT),
    ("RESET_PARAM", COLS[4], ROW_KNOBS_OUT),
    ("RUN_PARAM", COLS[5], ROW_KNOBS_OUT),
    ("BPM_PARAM", COLS[6], ROW_KNOBS_OUT),
    ("OUT_LIGHT_1", COLS[0], ROW_OUT_LIGHTS),
    ("OUT_LIGHT_2", COLS[1], ROW_OUT_LIGHTS),
    ("OUT_LIGHT_3", COLS[2], ROW_OUT_LIGHTS),
    ("OUT_LIGHT_4", COLS[3], ROW_OUT_LIGHTS),
    ("CLOCK_OUTPUT_1", COLS[0], ROW_JACKS_OUT),
    ("CLOCK_OUTPUT_2", COLS[1], ROW_JACKS_OUT),
    ("CLOCK_OUTPUT_3", COLS[2], ROW_JACKS_OUT),
    ("CLOCK_OUTPUT_4", COLS[3], ROW_JACKS_OUT),
    ("RESET_OUTPUT", COLS[4], ROW_JACKS_OUT),
    ("RUN_OUTPUT", COLS[5], ROW_JACKS_OUT),
    ("BPM_OUTPUT", COLS[6], ROW_JACKS_OUT),
    ("IN_LIGHT", LIGHT_IN[0], LIGHT_IN[1]),
    ("LOCK_LIGHT", LIGHT_LOCK[0], LIGHT_LOCK[1]),
]
RECTS = [
    ("LCD", LCD),
    ("MIDI_IN_DISPLAY", MIDI_IN),
    ("MIDI_OUT_DISPLAY", MIDI_OUT),
]

# Labels: (text, x, baseline y, cap height mm, role)
LABEL_CAP = 1.8
ABOVE = 6.6  # label baseline above a control's centre
LABELS = [
    ("CLOCK", COLS[0], ROW_KNOBS_IN - ABOVE),
    ("RESET", COLS[1], ROW_KNOBS_IN - ABOVE),
    ("RUN", COLS[2], ROW_KNOBS_IN - ABOVE),
    ("PPQN", COLS[3], ROW_KNOBS_IN - ABOVE),
    ("RESPONSE", COLS[4], ROW_KNOBS_IN - ABOVE),
    ("CV", COLS[5], ROW_KNOBS_IN - ABOVE),
    ("MIDI", COLS[6], ROW_KNOBS_IN - ABOVE),
    ("PPQN 1", COLS[0], ROW_KNOBS_OUT - ABOVE),
    ("PPQN 2", COLS[1], ROW_KNOBS_OUT - ABOVE),
    ("PPQN 3", COLS[2], ROW_KNOBS_OUT - ABOVE),
    ("PPQN 4", COLS[3], ROW_KNOBS_OUT - ABOVE),
    ("RESET", COLS[4], ROW_KNOBS_OUT - ABOVE),
    ("RUN", COLS[5], ROW_KNOBS_OUT - ABOVE),
    ("BPM", COLS[6], ROW_KNOBS_OUT - ABOVE - 0.9),
    ("MIDI IN", MIDI_IN[0] + MIDI_IN[2] / 2, MIDI_Y - 1.3),
    ("MIDI OUT", MIDI_OUT[0] + MIDI_OUT[2] / 2, MIDI_Y - 1.3),
    ("IN", LIGHT_IN[0], LIGHT_IN[1] + 5.2),
    ("LOCK", LIGHT_LOCK[0], LIGHT_LOCK[1] + 5.2),
]
BOX_LABELS = ["CLK 1", "CLK 2", "CLK 3", "CLK 4", "RESET", "RUN", "BPM"]
GROUP_LINES = [
    # (x0, x1, y, text): a thin rule with a caption, grouping controls
    (COLS[0] - 5.0, COLS[2] + 5.0, ROW_KNOBS_IN - 11.0, "INPUTS"),
    (COLS[3] - 5.0, COLS[4] + 5.0, ROW_KNOBS_IN - 11.0, "INPUT CLOCK"),
    (COLS[5] - 5.0, COLS[6] + 5.0, ROW_KNOBS_IN - 11.0, "OFFSET MS"),
    (COLS[0] - 5.0, COLS[3] + 5.0, ROW_KNOBS_OUT - 11.0, "CLOCK OUTPUTS"),
    (COLS[4] - 5.0, COLS[6] + 5.0, ROW_KNOBS_OUT - 11.0, "TRANSPORT / MASTER"),
]

THEMES = {
    "Bridge.svg": {
        "bg": "#ECECEA",
        "fg": "#1F1F1F",
        "muted": "#6B6B6B",
        "box": "#1F1F1F",
        "box_fg": "#ECECEA",
        "accent": "#C8871E",
        "recess": "#D6D6D3",
    },
    "Bridge-dark.svg": {
        "bg": "#1F1F1F",
        "fg": "#E8E8E6",
        "muted": "#9A9A9A",
        "box": "#E8E8E6",
        "box_fg": "#1F1F1F",
        "accent": "#E0A030",
        "recess": "#151515",
    },
}


def fmt(v):
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class Font:
    def __init__(self, path):
        self.font = TTFont(path)
        self.glyphs = self.font.getGlyphSet()
        self.cmap = self.font.getBestCmap()
        self.upem = self.font["head"].unitsPerEm
        bounds = BoundsPen(self.glyphs)
        self.glyphs[self.cmap[ord("H")]].draw(bounds)
        self.cap = bounds.bounds[3]  # cap height: the top of "H"
        self.hmtx = self.font["hmtx"]

    def width(self, text, scale, spacing):
        w = 0.0
        for ch in text:
            name = self.cmap.get(ord(ch))
            if name is None:
                raise SystemExit(f"glyph for {ch!r} missing in the font")
            w += self.hmtx[name][0] * scale + spacing
        return w - spacing if text else 0.0

    def path(self, text, x, y, cap_mm, anchor="middle", spacing=0.12):
        """SVG path data (absolute mm) for `text` with its baseline at y."""
        scale = cap_mm / self.cap
        width = self.width(text, scale, spacing)
        if anchor == "middle":
            x -= width / 2
        elif anchor == "end":
            x -= width
        pen = SVGPathPen(self.glyphs, ntos=fmt)
        for ch in text:
            name = self.cmap[ord(ch)]
            tpen = TransformPen(pen, (scale, 0, 0, -scale, x, y))
            self.glyphs[name].draw(tpen)
            x += self.hmtx[name][0] * scale + spacing
        return pen.getCommands()


def panel(font, c):
    out = []
    add = out.append
    add('<?xml version="1.0" encoding="UTF-8"?>')
    add(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{fmt(W)}mm" height="{fmt(H)}mm" '
        f'viewBox="0 0 {fmt(W)} {fmt(H)}" version="1.1">'
    )
    add("<!-- Generated by tools/panels/bridge_panel.py: edit the script, not this file. -->")
    add(f'<rect x="0" y="0" width="{fmt(W)}" height="{fmt(H)}" fill="{c["bg"]}"/>')

    def text(s, x, y, cap, fill, anchor="middle", spacing=0.12):
        add(f'<path fill="{fill}" d="{font.path(s, x, y, cap, anchor, spacing)}"/>')

    # Title and brand.
    text("BRIDGE", W / 2, 7.6, 3.4, c["fg"], spacing=0.45)
    text("TACTUS", W / 2, 120.6, 2.2, c["accent"], spacing=0.6)
    # Recesses behind the displays (the displays draw themselves on top).
    for _, (x, y, w, h) in RECTS:
        add(
            f'<rect x="{fmt(x - 0.6)}" y="{fmt(y - 0.6)}" width="{fmt(w + 1.2)}" '
            f'height="{fmt(h + 1.2)}" rx="1" fill="{c["recess"]}"/>'
        )
    # Group rules with captions.
    for x0, x1, y, caption in GROUP_LINES:
        cap = 1.45
        tw = font.width(caption, cap / font.cap, 0.3)
        mid = (x0 + x1) / 2
        gap = tw / 2 + 1.2
        for a, b in ((x0, mid - gap), (mid + gap, x1)):
            add(
                f'<rect x="{fmt(a)}" y="{fmt(y - 0.65)}" width="{fmt(b - a)}" height="0.25" '
                f'fill="{c["muted"]}"/>'
            )
        text(caption, mid, y, cap, c["muted"], spacing=0.3)
    # Labels.
    for s, x, y in LABELS:
        text(s, x, y, LABEL_CAP, c["fg"])
    # Output boxes with their labels inside.
    for i, s in enumerate(BOX_LABELS):
        x = COLS[i]
        bw = COL_STEP - 1.7
        add(
            f'<rect x="{fmt(x - bw / 2)}" y="{fmt(BOX_TOP)}" width="{fmt(bw)}" '
            f'height="{fmt(BOX_BOTTOM - BOX_TOP)}" rx="1.4" fill="{c["box"]}"/>'
        )
        text(s, x, BOX_TOP + 3.6, LABEL_CAP, c["box_fg"])
    add("</svg>")
    return "\n".join(out) + "\n"


def check_spacing(font):
    """Labels on one baseline must not touch (0.8 mm clearance)."""
    spans = {}
    for s, x, y in LABELS:
        w = font.width(s, LABEL_CAP / font.cap, 0.12)
        spans.setdefault(round(y, 2), []).append((x - w / 2, x + w / 2, s))
    for y, items in spans.items():
        items.sort()
        for (a0, a1, sa), (b0, b1, sb) in zip(items, items[1:]):
            if a1 + 0.8 > b0:
                raise SystemExit(f"labels {sa!r} and {sb!r} overlap at y={y}")
    for i, s in enumerate(BOX_LABELS):
        if font.width(s, LABEL_CAP / font.cap, 0.12) > COL_STEP - 1.7 - 1.0:
            raise SystemExit(f"box label {s!r} is wider than its box")


def cpp_block():
    lines = ["// BEGIN GENERATED LAYOUT (tools/panels/bridge_panel.py)", "namespace layout {"]
    for name, x, y in POSITIONS:
        lines.append(f"static const Vec {name}({fmt(x)}, {fmt(y)});")
    for name, (x, y, w, h) in RECTS:
        lines.append(f"static const Rect {name}(Vec({fmt(x)}, {fmt(y)}), Vec({fmt(w)}, {fmt(h)}));")
    lines.append("} // namespace layout")
    lines.append("// END GENERATED LAYOUT")
    return "\n".join(lines)


def with_block(cpp, block):
    pat = re.compile(r"// BEGIN GENERATED LAYOUT.*?// END GENERATED LAYOUT", re.S)
    if not pat.search(cpp):
        raise SystemExit("src-cpp/Bridge.cpp has no GENERATED LAYOUT markers")
    return pat.sub(lambda _m: block, cpp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--font", default=DEFAULT_FONT)
    ap.add_argument("--check", action="store_true", help="fail if a generated file differs")
    args = ap.parse_args()
    font = Font(args.font)
    check_spacing(font)
    wanted = {}
    for name, theme in THEMES.items():
        wanted[os.path.join(ROOT, "res", name)] = panel(font, theme)
    cpp_path = os.path.join(ROOT, "src-cpp", "Bridge.cpp")
    with open(cpp_path, encoding="utf-8") as f:
        wanted[cpp_path] = with_block(f.read(), cpp_block())
    stale = []
    for path, text in wanted.items():
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old == text:
            continue
        stale.append(os.path.relpath(path, ROOT))
        if not args.check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if args.check and stale:
        print("out of date: " + ", ".join(stale) + " (run tools/panels/bridge_panel.py)", file=sys.stderr)
        return 1
    for p in stale:
        print("wrote " + p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
