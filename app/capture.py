"""What the viewer keeps of its frames and between runs: frames read back (a video writer's hooks, screenshots,
`capture=True` frames for tests) and the settings file (the first-run hint dismissed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np

from app.loading import REPO
from app.state import EventLine

SCREENSHOT_DIR = REPO / "runs" / "screenshots"  # F12's default folder (runs/ is git-ignored)
SETTINGS_FILE = Path.home() / ".config" / "ase-runtime" / "viewer.json"  # what the viewer remembers: the hint seen


class FrameCapture:
    """A frame's pixels, when something wants them: the hooks (callables(image) run on every frame: recording),
    a screenshot (written to `folder`, said on the event line) or the caller (`last_image`)."""

    def __init__(self, folder: str | Path | None, events: EventLine) -> None:
        self.folder = Path(folder) if folder else SCREENSHOT_DIR
        self.events = events
        self.hooks: list[Callable[[np.ndarray], object]] = []
        self.last_image: np.ndarray | None = None  # the last frame read back

    def wanted(self, capture: bool, screenshot: bool) -> bool:
        """Whether this frame's pixels are to be read back."""
        return capture or screenshot or bool(self.hooks)

    def take(self, image: np.ndarray, screenshot: bool) -> None:
        """The frame read back: kept, given to every hook, and written as a screenshot when one was asked for."""
        self.last_image = image
        for hook in self.hooks:
            hook(image)
        if screenshot:
            self.save(image)

    def save(self, image: np.ndarray, path: str | Path | None = None) -> Path:
        import imageio.v3 as iio

        path = Path(path) if path else self.folder / f"ase_viewer_{datetime.now():%Y%m%d_%H%M%S}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(path, image)
        self.events.say(f"screenshot {path}")
        return path


class ViewerSettings:
    """What the viewer remembers between runs, in a JSON file (`path`; None: nothing is remembered)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None

    def read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError, AttributeError):
            return {}

    def remember(self, **values: object) -> None:
        """Add `values` to the file (one that cannot be written: forgotten)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({**self.read(), **values}))
        except OSError:
            pass
