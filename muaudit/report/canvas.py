"""A small plot renderer on Pillow: the audit's PNG figures (axes, lines, step histograms, legend).

An audit's three figures need no more than this, and matplotlib cost about as much as the rest
of an audit beyond importing torch (import, layout and text: ~0.9 CPU s against ~0.1 s here; see
"Latency of one audit" in docs/benchmarks.md). The look follows matplotlib's defaults (tab10
colours, DejaVu Sans, ticks outside, a light grid); lines are drawn at twice the size and
reduced, which anti-aliases them. A :class:`Plot` describes one figure; :func:`render` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache

import numpy as np

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SS = 2  # supersampling factor
PT = 100 / 72  # pixels per point at 100 dpi
_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


@dataclass
class Series:
    """One line (``steps``: a post-step staircase) or a filled step histogram (``fill`` alpha) in data units."""

    x: np.ndarray
    y: np.ndarray
    color: str
    label: str | None = None
    width: float = 1.5  # points
    dashed: bool = False
    steps: bool = False
    fill: float = 0.0


@dataclass
class Plot:
    """One figure: ``size`` in pixels, axis limits, log axes, series, titles, legend placement
    (``"lower right"`` inside the axes or ``"below"``), font sizes in points."""

    size: tuple[int, int]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log: bool = False
    series: list[Series] = field(default_factory=list)
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    legend: str = "lower right"
    grid: bool = True
    fonts: dict = field(default_factory=lambda: {"title": 12, "label": 11, "tick": 10, "legend": 10})


@cache
def _font(points: float):
    """DejaVu Sans (matplotlib's font, from its package folder, without importing it) at ``points``."""
    import importlib.util
    from pathlib import Path

    from PIL import ImageFont

    size = round(points * PT * SS)
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def linear_ticks(lo: float, hi: float, bins: int = 9) -> tuple[np.ndarray, list[str]]:
    """Ticks within [lo, hi] at the smallest round step (1, 2, 2.5 or 5 x 10^k) that makes at most
    ``bins`` intervals (matplotlib's default locator on a figure of this size), and their labels.

    Example:
        >>> linear_ticks(0.0, 1.0)[1]
        ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']
        >>> linear_ticks(-3.2, 7.9)[1]
        ['\u22122', '0', '2', '4', '6']
        >>> linear_ticks(0.0, 1.86)[1][:3]
        ['0.00', '0.25', '0.50']
    """
    span = hi - lo if hi > lo else 1.0
    base = 10.0 ** math.floor(math.log10(span / bins))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if span / (m * base) <= bins)
    ticks = np.arange(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1) * step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if abs(step / base - 2.5) < 1e-9 else 0)
    labels = [f"{t:.{decimals}f}".replace("-", "\u2212") for t in ticks + 0.0]
    return ticks, labels


def log_ticks(lo: float, hi: float) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Decades within [lo, hi] with labels ``10⁻²``, and the minor ticks (2..9 x 10^k).

    Example:
        >>> major, labels, minor = log_ticks(0.004, 1.0)
        >>> labels, minor[:3].round(3).tolist()
        (['10\u207b\u00b2', '10\u207b\u00b9', '10\u2070'], [0.004, 0.005, 0.006])
    """
    k = np.arange(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)
    minor = np.array([m * 10.0 ** d for d in range(int(math.floor(math.log10(lo))), int(math.ceil(math.log10(hi))))
                      for m in range(2, 10)])
    minor = minor[(minor >= lo * (1 - 1e-9)) & (minor <= hi * (1 + 1e-9))]
    return 10.0 ** k, ["10" + str(int(d)).translate(_SUPERSCRIPT) for d in k], minor


def _widened(lim: tuple[float, float], log: bool) -> tuple[float, float]:
    """``lim``, or around it when empty (a ROC with one non-member clips its log axes at 1)."""
    lo, hi = lim
    if hi > lo:
        return lo, hi
    return (lo / 10, hi * 10) if log else (lo - 0.5, hi + 0.5)


class _Frame:
    """Maps data to pixels of the supersampled image for one axes box."""

    def __init__(self, plot: Plot, box: tuple[float, float, float, float]):
        self.plot, (self.left, self.top, self.right, self.bottom) = plot, box

    def _unit(self, v, lim):
        v = np.asarray(v, np.float64)
        if self.plot.log:
            v, lim = np.log10(np.maximum(v, lim[0] * 1e-3)), np.log10(lim)
        return (v - lim[0]) / (lim[1] - lim[0])

    def px(self, x, y) -> np.ndarray:
        """``[n, 2]`` pixel coordinates; points far outside the box are pulled to just outside it."""
        u = np.clip(self._unit(x, self.plot.xlim), -0.05, 1.05)
        v = np.clip(self._unit(y, self.plot.ylim), -0.05, 1.05)
        return np.c_[self.left + u * (self.right - self.left), self.bottom - v * (self.bottom - self.top)]


def _path(s: Series) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(s.x, np.float64), np.asarray(s.y, np.float64)
    if s.steps and x.size > 1:  # post steps: hold y until the next x
        x, y = np.repeat(x, 2)[1:], np.repeat(y, 2)[:-1]
    return x, y


def _thin(points: np.ndarray) -> np.ndarray:
    """Drop consecutive points on the same pixel (a long ROC curve has thousands per pixel column)."""
    keep = np.r_[True, np.any(np.abs(np.diff(np.round(points), axis=0)) > 0, axis=1)]
    keep[-1] = True
    return points[keep]


def _dashes(points: np.ndarray, on: float, off: float) -> list[np.ndarray]:
    """The dash segments of a polyline (straight lines only need this: the chance line)."""
    out = []
    for a, b in zip(points[:-1], points[1:]):
        length = float(np.hypot(*(b - a)))
        for start in np.arange(0.0, length, on + off):
            t0, t1 = start / length, min(start + on, length) / length
            out.append(np.array([a + t0 * (b - a), a + t1 * (b - a)]))
    return out


def _draw_series(draw, frame: _Frame, series: list[Series]) -> None:
    from PIL import ImageColor

    for s in series:
        x, y = _path(s)
        pts = _thin(frame.px(x, y))
        rgb = ImageColor.getrgb(s.color)
        if s.fill:
            base = frame.px([x[0], x[-1]], [frame.plot.ylim[0]] * 2)
            poly = np.r_[base[:1], pts, base[1:]]
            draw.polygon([tuple(p) for p in poly], fill=rgb + (round(255 * s.fill),))
        width = max(1, round(s.width * PT * SS))
        parts = _dashes(pts, 3.7 * s.width * PT * SS, 1.6 * s.width * PT * SS) if s.dashed else [pts]
        for part in parts:
            draw.line([tuple(p) for p in part], fill=rgb, width=width, joint=None if s.dashed else "curve")


def _text(img, xy, text, font, *, anchor="mm", rotate=False, fill=(0, 0, 0)) -> None:
    from PIL import Image, ImageDraw

    if not rotate:
        ImageDraw.Draw(img).text(xy, text, font=font, fill=fill, anchor=anchor)
        return
    l, t, r, b = font.getbbox(text, anchor="lt")
    mask = Image.new("L", (r + 2, b + 2), 0)
    ImageDraw.Draw(mask).text((0, 0), text, font=font, fill=255, anchor="lt")
    mask = mask.rotate(90, expand=True)
    img.paste(fill, (round(xy[0] - mask.width / 2), round(xy[1] - mask.height / 2)), mask)


def _ticks(plot: Plot, lim):
    if plot.log:
        major, labels, minor = log_ticks(*lim)
        return major, labels, minor
    major, labels = linear_ticks(*lim)
    return major, labels, np.zeros(0)


def _box(plot: Plot, xt, yt) -> tuple[float, float, float, float]:
    """The axes box in supersampled pixels: room for the title, tick labels, axis labels and a legend below."""
    f, W, H = plot.fonts, plot.size[0] * SS, plot.size[1] * SS
    tick_w = max((_font(f["tick"]).getlength(t) for t in yt[1]), default=0)
    tick_h, label_h = _font(f["tick"]).size, _font(f["label"]).size
    pad, tick = 6 * SS, 3.5 * PT * SS
    left = pad + label_h * 1.2 + tick_w + tick + 3.5 * PT * SS + pad
    bottom = H - (pad + label_h * 1.2 + tick_h * 1.2 + tick + 3.5 * PT * SS + pad)
    if plot.legend == "below":
        bottom -= _legend_size(plot)[1] + pad
    top = pad + _font(f["title"]).size * 1.2 + 6 * PT * SS
    right = W - pad - max(_font(f["tick"]).getlength(xt[1][-1]) / 2 if xt[1] else 0, pad)
    return left, top, right, bottom


def _legend_size(plot: Plot) -> tuple[float, float]:
    font = _font(plot.fonts["legend"])
    rows = [s.label for s in plot.series if s.label]
    width = max((font.getlength(r) for r in rows), default=0) + 2.8 * font.size
    return width, len(rows) * font.size * 1.35 + 0.6 * font.size


def _legend(img, plot: Plot, box) -> None:
    from PIL import ImageColor, ImageDraw

    rows = [s for s in plot.series if s.label]
    if not rows:
        return
    font, (w, h) = _font(plot.fonts["legend"]), _legend_size(plot)
    left, top, right, bottom = box
    if plot.legend == "below":
        x0, y0 = (left + right - w) / 2, bottom + 3.5 * PT * SS + font.size * 1.2 + _font(plot.fonts["label"]).size * 1.4 + 12 * SS
    else:
        x0, y0 = right - w - 4 * SS, bottom - h - 4 * SS
        ImageDraw.Draw(img, "RGBA").rounded_rectangle((x0, y0, x0 + w, y0 + h), radius=3 * SS,
                                                       fill=(255, 255, 255, 204), outline=(204, 204, 204), width=SS)
    draw = ImageDraw.Draw(img, "RGBA")
    for i, s in enumerate(rows):
        y = y0 + 0.3 * font.size + (i + 0.5) * font.size * 1.35
        x = np.array([[x0 + 0.4 * font.size, y], [x0 + 2.2 * font.size, y]])
        rgb = ImageColor.getrgb(s.color)
        if s.fill:
            draw.rectangle((x[0][0], y - 0.35 * font.size, x[1][0], y + 0.35 * font.size),
                           outline=rgb, width=max(1, round(s.width * PT * SS)))
        else:
            for part in (_dashes(x, 3.7 * s.width * PT * SS, 1.6 * s.width * PT * SS) if s.dashed else [x]):
                draw.line([tuple(p) for p in part], fill=rgb, width=max(1, round(s.width * PT * SS)))
        _text(img, (x0 + 2.8 * font.size, y), s.label, font, anchor="lm")


def render(plot: Plot, path) -> None:
    """Draw ``plot`` and write it as a PNG of ``plot.size`` pixels.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> p = Plot((600, 500), (0, 1), (0, 1), series=[Series([0, 0.5, 1], [0, 0.8, 1], COLORS[0], "a")])
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "f.png"
        >>> render(p, out)
        >>> Image.open(out).size
        (600, 500)
    """
    from PIL import Image, ImageDraw

    plot = replace(plot, xlim=_widened(plot.xlim, plot.log), ylim=_widened(plot.ylim, plot.log))
    img = Image.new("RGB", (plot.size[0] * SS, plot.size[1] * SS), "white")
    xt, yt = _ticks(plot, plot.xlim), _ticks(plot, plot.ylim)
    box = left, top, right, bottom = _box(plot, xt, yt)
    frame = _Frame(plot, box)
    draw = ImageDraw.Draw(img, "RGBA")
    tick, minor, lw = 3.5 * PT * SS, 2 * PT * SS, max(1, round(0.8 * PT * SS))
    fx, fy = frame.px(xt[0], np.full(len(xt[0]), plot.ylim[0]))[:, 0], frame.px(np.full(len(yt[0]), plot.xlim[0]), yt[0])[:, 1]
    if plot.grid:
        for x in fx:
            draw.line([(x, top), (x, bottom)], fill=(176, 176, 176, 77), width=lw)
        for y in fy:
            draw.line([(left, y), (right, y)], fill=(176, 176, 176, 77), width=lw)
    _draw_series(draw, frame, plot.series)
    axes = ImageDraw.Draw(img)
    for margin in ((0, 0, img.width, top), (0, bottom, img.width, img.height), (0, 0, left, img.height),
                   (right, 0, img.width, img.height)):  # clip the data to the axes box
        axes.rectangle(margin, fill=(255, 255, 255))
    axes.rectangle((left, top, right, bottom), outline=(0, 0, 0), width=lw)
    font = _font(plot.fonts["tick"])
    for x, label in zip(fx, xt[1]):
        axes.line([(x, bottom), (x, bottom + tick)], fill=(0, 0, 0), width=lw)
        _text(img, (x, bottom + tick + 3.5 * PT * SS), label, font, anchor="ma")
    for y, label in zip(fy, yt[1]):
        axes.line([(left - tick, y), (left, y)], fill=(0, 0, 0), width=lw)
        _text(img, (left - tick - 3.5 * PT * SS, y), label, font, anchor="rm")
    for x in frame.px(xt[2], np.full(len(xt[2]), plot.ylim[0]))[:, 0]:
        axes.line([(x, bottom), (x, bottom + minor)], fill=(0, 0, 0), width=max(1, lw // 2))
    for y in frame.px(np.full(len(yt[2]), plot.xlim[0]), yt[2])[:, 1]:
        axes.line([(left - minor, y), (left, y)], fill=(0, 0, 0), width=max(1, lw // 2))
    label_font, pad = _font(plot.fonts["label"]), 6 * SS
    _text(img, ((left + right) / 2, bottom + tick + 3.5 * PT * SS + font.size * 1.2 + 2 * SS), plot.xlabel,
          label_font, anchor="ma")
    _text(img, (pad + label_font.size * 0.6, (top + bottom) / 2), plot.ylabel, label_font, rotate=True)
    _text(img, ((left + right) / 2, top - 6 * PT * SS), plot.title, _font(plot.fonts["title"]), anchor="md")
    _legend(img, plot, box)
    img.reduce(SS).save(path, compress_level=1)  # fast zlib: ~10% more bytes, still fewer than matplotlib wrote
