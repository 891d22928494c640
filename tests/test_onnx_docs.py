"""docs/game-engines.md: the worked example's numbers are what the code computes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.onnx_fixtures import ROOT, full_export

DOC = ROOT / "docs" / "game-engines.md"


@pytest.fixture(scope="module")
def frame() -> dict:
    text = DOC.read_text()
    m = re.search(r"<!-- worked-example:begin -->\s*```json\n(.*?)```\s*<!-- worked-example:end -->", text, re.S)
    assert m, f"{DOC}: no worked-example JSON block"
    return json.loads(m.group(1))


def test_observation_formulas_reproduce_the_documented_observation(frame):
    """From the documented body states alone (what a game engine has), the documented observation."""
    from sim.observations import policy_obs

    b = frame["bodies"]
    parts = [np.array([[b[n][k] for n in b]]) for k in ("pos", "quat", "lin_vel", "ang_vel")]
    np.testing.assert_allclose(policy_obs(*parts)[0], frame["obs"], atol=2e-6)


def test_runtime_reproduces_the_whole_frame(frame):
    """Example state -> MuJoCo body states -> observation -> LLC (round0's weights) -> action, PD targets."""
    from controllers.runtime import Controller
    from controllers.runtime.reference_frame import dumps, reference_frame

    ctl = Controller(full_export()[0])
    got = json.loads(dumps(reference_frame(ctl)))  # through the same text formatting
    for key in ("qpos", "qvel"):
        np.testing.assert_allclose(got[key], frame[key], atol=1e-8, err_msg=key)
    for name, state in frame["bodies"].items():
        for key, value in state.items():
            np.testing.assert_allclose(got["bodies"][name][key], value, atol=1e-7, err_msg=f"{name} {key}")
    np.testing.assert_allclose(got["obs"], frame["obs"], atol=2e-6)
    np.testing.assert_allclose(got["action"], frame["action"], atol=1e-5)
    np.testing.assert_allclose(got["pd_target"], frame["pd_target"], atol=1e-5)
    sc = ctl.sidecar["action"]
    np.testing.assert_allclose(
        np.array(sc["offset"]) + np.array(sc["scale"]) * np.array(frame["action"]), frame["pd_target"], atol=1e-6
    )


def test_documented_slice_starts_match_the_layout():
    """The doc's slice table (starts as formulas in B) against sim.observations for both characters."""
    from sim.character import load_character
    from sim.observations import policy_layout

    table = dict(re.findall(r"^\| `(\w+)` \| ([0-9B+\-]+) \|", DOC.read_text(), re.M))

    def start(formula: str, b: int) -> int:  # "0", "1", "3B-2", "12B-2"
        m = re.fullmatch(r"(\d*)B([+-]\d+)?", formula)
        return int(formula) if m is None else int(m.group(1) or 1) * b + int(m.group(2) or 0)

    for name in ("humanoid", "humanoid_sword_shield"):
        ch = load_character(name)
        for s in policy_layout(ch):
            assert start(table[s.name], ch.num_bodies) == s.start, (name, s.name)
