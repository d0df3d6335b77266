"""Draw a print-ready QR code for a deep link, in a poster, card or label size.

The code itself is made by segno (error correction level M, the 4-module quiet zone the
standard asks for); matplotlib lays it out at the physical size with an optional caption
and writes PNG (300 dpi), SVG or PDF. Modules are drawn as vector squares, so SVG and PDF
stay sharp at any print size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import segno

MM_PER_INCH = 25.4
QUIET_ZONE = 4  # modules of white around the code, as the QR standard requires
DPI = 300


@dataclass(frozen=True)
class Size:
    name: str
    width_mm: float
    height_mm: float
    code_mm: float  # the printed width of the code, quiet zone included
    caption_pt: float


SIZES = {
    "a4": Size("a4", 210, 297, 150, 22),  # a poster: on a noticeboard or a toilet door
    "card": Size("card", 85, 55, 40, 8),  # a business card
    "label": Size("label", 30, 30, 26, 0),  # a small label or sticker: no room for words
}
FORMATS = ("png", "svg", "pdf")


def make_code(link: str) -> segno.QRCode:
    return segno.make(link, error="m", micro=False)


def dark_modules(code: segno.QRCode) -> list[tuple[int, int]]:
    """(row, column) of every dark module, quiet zone not included."""
    return [
        (row, column)
        for row, line in enumerate(code.matrix)
        for column, dark in enumerate(line)
        if dark
    ]


def draw(link: str, target: Path, size: Size, fmt: str, caption: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen: draw straight to a file
    from matplotlib import pyplot
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    code = make_code(link)
    modules = len(code.matrix) + 2 * QUIET_ZONE
    figure = pyplot.figure(figsize=(size.width_mm / MM_PER_INCH, size.height_mm / MM_PER_INCH))
    code_w = size.code_mm / size.width_mm
    code_h = size.code_mm / size.height_mm
    has_caption = bool(caption) and size.caption_pt > 0
    bottom = 0.5 - code_h / 2 + (0.08 if has_caption else 0)
    axis = figure.add_axes((0.5 - code_w / 2, bottom, code_w, code_h))
    axis.set_xlim(0, modules)
    axis.set_ylim(modules, 0)
    axis.set_axis_off()
    squares = [
        Rectangle((column + QUIET_ZONE, row + QUIET_ZONE), 1, 1)
        for row, column in dark_modules(code)
    ]
    axis.add_collection(PatchCollection(squares, facecolor="black", edgecolor="none"))
    if has_caption:
        figure.text(
            0.5, bottom - 0.04, caption, ha="center", va="top", fontsize=size.caption_pt, wrap=True
        )
    figure.savefig(target, format=fmt, dpi=DPI, facecolor="white")
    pyplot.close(figure)
