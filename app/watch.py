"""Watch training live: one environment of the trainer's own simulation, drawn in a small window.

    from app.watch import TrainingWatcher
    watcher = TrainingWatcher(env, env_index=0, every=1, max_fps=30)
    ...
    watcher.update({"iteration": it, "reward": r})   # after env.step(...) or once per iteration
    ...
    watcher.close()

`update` is cheap when it has nothing to do: it renders at most `max_fps` times per second and
only on every `every`-th call. Without a display (or OpenGL) the first `update` prints one line
and every later call returns False at once; closing the window stops watching, never training.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class TrainingWatcher:
    def __init__(
        self,
        env: Any,
        env_index: int = 0,
        *,
        every: int = 1,
        max_fps: float = 30.0,
        width: int = 960,
        height: int = 540,
        title: str = "ASE training (watch)",
    ) -> None:
        self.env = env
        self.env_index = env_index
        self.every = max(1, int(every))
        self.min_period = 1.0 / max_fps if max_fps > 0 else 0.0
        self.size = (width, height)
        self.title = title
        self.active = True  # False once the window failed or was closed
        self.message = ""
        self._calls = 0
        self._last = 0.0
        self._window = None
        self._renderer = None

    def _open(self) -> bool:
        from app.render import SceneRenderer
        from app.window import DisplayError, open_window

        try:
            self._window = open_window(*self.size, title=self.title)
            self._window.switch_to()
            self._renderer = SceneRenderer(self.env.model)
        except (DisplayError, Exception) as exc:  # noqa: B014 - any GL failure means "no watching"
            self._fail(f"--watch: {exc}; training continues without the window")
            return False
        root = 1  # the character's root body follows the world body
        self._renderer.set_character_bodies(list(range(root, root + self.env.character.num_bodies)))
        self._window.push_handlers(on_close=self._on_close)
        return True

    def _fail(self, msg: str) -> None:
        self.active = False
        self.message = msg
        print(msg, file=sys.stderr)
        if self._window is not None:
            try:
                self._window.close()
            except Exception:
                pass
            self._window = None

    def _on_close(self) -> bool:
        self.close()
        self.message = "watch window closed; training continues"
        return True

    def update(self, info: dict[str, Any] | None = None) -> bool:
        """Draw the watched environment now if it is time; returns whether a frame was drawn."""
        if not self.active:
            return False
        self._calls += 1
        now = time.perf_counter()
        if (self._calls - 1) % self.every or now - self._last < self.min_period:
            return False
        if self._window is None and not self._open():
            return False
        self._last = now
        try:
            data = self.env.get_data(self.env_index)
            w = self._window
            w.switch_to()
            w.dispatch_events()
            if not self.active:  # closed during dispatch
                return False
            r = self._renderer
            r.update_camera(data.xpos[1], 1.0)
            hud = [("env", str(self.env_index))] + [(str(k), _fmt(v)) for k, v in (info or {}).items()]
            width, height = w.get_framebuffer_size()
            r.render(width, height, data, hud=hud)
            w.flip()
        except Exception as exc:
            self._fail(f"--watch stopped ({type(exc).__name__}: {exc}); training continues")
            return False
        return True

    def close(self) -> None:
        self.active = False
        for thing in (self._renderer, self._window):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # a window the user already closed, a lost GL context: nothing to keep
                    pass
        self._renderer = self._window = None


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
