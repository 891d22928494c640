"""Where the viewer's panels go: a left column (controls above, status below), a right column (the latent window
in LLC mode, the task window in HLC mode) and the middle kept for the scene, where only what the user opens (the
keys, the first-run hint) goes. Pure: no imgui, testable with plain numbers.

Every window is placed and bounded from here each frame, so no two windows overlap and none leaves the screen,
whatever the window size: below `COMPACT_WIDTH` x `COMPACT_HEIGHT` the columns narrow and the skill map shrinks,
so that at 1024x600 the scene keeps most of the view.
"""

from __future__ import annotations

from dataclasses import dataclass

MARGIN = 8
COMPACT_WIDTH, COMPACT_HEIGHT = 1200, 680  # below either: the compact layout
LEFT_WIDTH, LEFT_WIDTH_COMPACT = 340, 300
RIGHT_WIDTH, RIGHT_WIDTH_COMPACT = 390, 320
MAP_SIZE, MAP_SIZE_COMPACT = 210, 150
MIDDLE_MIN = 300  # the keys window needs at least this much of the middle


@dataclass(frozen=True)
class Rect:
    x: float
    y: float  # top (imgui: y down)
    w: float
    h: float  # the most it may take (windows are sized to their content within it)

    def overlaps(self, o: Rect) -> bool:
        return self.x < o.x + o.w and o.x < self.x + self.w and self.y < o.y + o.h and o.y < self.y + self.h


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    compact: bool
    controls: Rect  # top left
    status: Rect  # bottom left (its top is where the status, sized to its rows, starts)
    side: Rect  # top right: the latent or task window
    middle: Rect  # between the columns: the keys window, the first-run hint
    map_size: int


def layout(width: int, height: int, status_height: float) -> Layout:
    """The rectangles for a `width` x `height` window whose status window is `status_height` pixels tall."""
    compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
    left = LEFT_WIDTH_COMPACT if compact else LEFT_WIDTH
    right = RIGHT_WIDTH_COMPACT if compact else RIGHT_WIDTH
    m = MARGIN
    status_h = min(status_height, height / 2)
    status = Rect(m, height - m - status_h, left, status_h)
    controls = Rect(m, m, left, max(60.0, status.y - 2 * m))
    side = Rect(width - right - m, m, right, height - 2 * m)
    x0 = left + 2 * m
    middle = Rect(x0, m, max(0.0, side.x - m - x0), height - 2 * m)
    return Layout(width, height, compact, controls, status, side, middle, MAP_SIZE_COMPACT if compact else MAP_SIZE)
