"""What the viewer measures after each control step, from one reading of the simulation (`StepReading`): the skill
the LLC's encoder sees (`SeenSkill`) and the HLC task's state and score (`TaskScore`). The posture (`app.state.
FallMonitor`) and the measured motion (`app.hud.MeasuredMotion`) read the same reading."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from controllers.latents import recognise_skill
from sim.single import AmpHistory, SingleCharacter
from sim.task_state import TaskState

if TYPE_CHECKING:
    from tasks.single import HLCDriver

SEEN_EVERY = 5  # control steps between two looks of the encoder at the motion


@dataclass(frozen=True)
class StepReading:
    """The simulation after a control step, read once: the fall rule's inputs, the root, and what the task (HLC
    mode) and the encoder (an LLC with named skills) read."""

    time: float
    fallen: bool
    heights_rel: tuple[float, float]  # root and head, as fractions of standing
    airborne: bool
    root: np.ndarray
    task_state: TaskState | None = None
    amp_frame: np.ndarray | None = None

    @classmethod
    def of(cls, sim: SingleCharacter, *, task: bool = False, amp: bool = False) -> StepReading:
        return cls(sim.time, sim.fallen(), sim.heights_rel(), sim.airborne(), sim.root_pos(),
                   sim.task_state() if task else None, sim.amp_frame() if amp else None)  # fmt: skip


class SeenSkill:
    """The named skill an LLC's encoder recognises in its last discriminator frames (an LLC with named skills: the
    encoder was trained to map each clip's windows onto its anchor); `text` is "" for other LLCs."""

    def __init__(self) -> None:
        self.text = ""
        self.history: AmpHistory | None = None  # the acting LLC's last discriminator frames
        self._steps = 0

    def reset(self) -> None:
        self.text, self.history = "", None

    @staticmethod
    def watches(llc: Any) -> bool:
        """Whether `llc` names skills its encoder can recognise (then each step's reading needs its AMP frame)."""
        return bool(getattr(llc, "skills", None)) and hasattr(llc, "encode")

    def update(self, llc: Any, amp_frame: np.ndarray | None) -> None:
        """After a control step of `llc`: keep its frame and, every few steps, look again."""
        if not self.watches(llc):
            self.text = ""
            return
        if self.history is None or self.history.frames != llc.num_amp_frames:
            self.history = AmpHistory(llc.num_amp_frames)  # starts from the first frame it is given
        self.history.push(amp_frame)
        self._steps += 1
        if self._steps % SEEN_EVERY == 0 or not self.text:
            name, cos = recognise_skill(llc.encode(self.history.window())[0], llc.skills)
            self.text = f"{name} (cos {cos:.2f})"


class TaskScore:
    """HLC mode: what the task read after the last control step (`state`), its reward, success and own failure
    (strike: a foul), their running record over `window` steps, and the targets placed this episode."""

    def __init__(self, window: int) -> None:
        self.state: TaskState | None = None
        self.rewards: deque[float] = deque(maxlen=window)
        self.successes: deque[bool] = deque(maxlen=window)
        self.start(None)

    def start(self, state: TaskState | None) -> None:
        """A task starts (or none is driven: `state` None): nothing scored yet, no target placed."""
        self.state = state
        self.reward = float("nan")  # the last control step's task reward
        self.success = False
        self.failed = False  # the task's own failure at the last control step
        self.target_failed = False  # ... at any step since the current target was placed (training would end there)
        self.targets = 0  # targets placed this HLC episode (strike: boxes)
        self.failures = 0  # of them, how many were failed (a box is fouled once, however often it is touched)
        self.rewards.clear()
        self.successes.clear()

    def new_target(self) -> None:
        """A target was placed (strike: a box): a new attempt."""
        self.target_failed = False
        self.targets += 1

    def update(self, driver: HLCDriver, state: TaskState) -> None:
        """After an HLC-mode control step: the task's state, reward and success (HUD, task window)."""
        self.state = state
        self.reward, self.success, failed = driver.score(state)
        self.failures += failed and not self.target_failed
        self.failed, self.target_failed = failed, self.target_failed or failed
        self.rewards.append(self.reward)
        self.successes.append(self.success)
