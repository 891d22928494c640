// ?selftest: drive the page as a person would and report what happened (tests/test_web.py reads the report,
// posted to /__selftest and shown in the panel). Runs before the animation loop starts, as fast as it can.
import { exampleLatent } from './controller.js';

function press(key, down) {
  window.dispatchEvent(new KeyboardEvent(down ? 'keydown' : 'keyup', { key }));
}

function travelYaw(track) {
  const a = track[0], b = track[track.length - 1];
  return Math.atan2(b[1] - a[1], b[0] - a[0]);
}

const wrap = (a) => Math.atan2(Math.sin(a), Math.cos(a));

export async function selftest(app, params) {
  const ctl = app.ctl, report = { errors: [], steps: {} };
  window.addEventListener('error', (e) => report.errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => report.errors.push(String(e.reason)));
  const consoleError = console.error;
  console.error = (...a) => { report.errors.push(a.map(String).join(' ')); consoleError(...a); };
  const n = Number(params.get('steps') || 30);
  try {
    // 1. the same start and latent as the Python runtime: default pose, the documented example latent
    ctl.reset();
    for (let k = 0; k < n; k++) await ctl.step(exampleLatent(ctl.latentDim));
    report.llc_state = ctl.state();
    if (ctl.hlc && ['steering', 'speed'].includes(ctl.task)) {
      ctl.reset();
      ctl.setGoal({ direction: 0.5, speed: 1.2, facing: 0.5 });
      for (let k = 0; k < n; k++) await ctl.stepTask();
      report.hlc_state = ctl.state();
    }
    // 2. ten seconds through the page's own controls: W held (walk forward), then A (left), then a shove
    app.reset();
    const steer = ctl.hlc && ['steering', 'speed'].includes(ctl.task);
    if (steer) app.setMode('hlc');
    const phase = async (name, seconds, keys = []) => {
      keys.forEach((k) => press(k, true));
      const steps = Math.round(seconds * ctl.config.rates.control_hz), track = [];
      let minHeight = Infinity;
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) {
        app.updateGoal(1 / ctl.config.rates.control_hz);
        await app.controlStep();
        const p = ctl.rootPosition();
        minHeight = Math.min(minHeight, p[2]);
        track.push(p);
        if (app.view && k % 15 === 0) app.view.draw(ctl.data, p, app.markers());
      }
      const ms = performance.now() - t0;
      keys.forEach((k) => press(k, false));
      const last = track.slice(-ctl.config.rates.control_hz);
      report.steps[name] = { seconds, min_root_height: minHeight, final_root_height: track[track.length - 1][2],
        travel_yaw: travelYaw(last), goal_direction: app.direction, goal_speed: ctl.goal.speed,
        distance: Math.hypot(last[last.length - 1][0] - last[0][0], last[last.length - 1][1] - last[0][1]),
        wall_ms: ms, realtime_factor: (seconds * 1000) / ms };
    };
    // named skills (controller.json `skills`): the first one's button, 3 s under it in LLC mode
    const buttons = document.querySelectorAll('#skills button[data-skill]');
    report.skill_buttons = Array.from(buttons, (b) => b.dataset.skill);
    if (buttons.length) {
      buttons[0].click();
      const want = app.skills[buttons[0].dataset.skill];
      report.skill_latent_error = Math.max(...Array.from(want, (v, k) => Math.abs(v - app.latent[k])));
      report.skill_mode = app.mode;
      await phase('skill', 3);
      app.reset();
    }
    if (steer) app.setMode('hlc');
    await phase('walk', 6, steer ? ['w'] : []);
    await phase('turn', 4, steer ? ['a'] : []);
    report.turned_deg = (wrap(report.steps.turn.travel_yaw - report.steps.walk.travel_yaw) * 180) / Math.PI;
    press('b', true); press('b', false);
    await phase('shove', 2);
    report.steering = steer;
    report.mujoco = ctl.mj.mj_versionString();
    // 3. rendering cost: 30 frames of the view alone
    if (app.view) {
      const t0 = performance.now();
      for (let k = 0; k < 30; k++) app.view.draw(ctl.data, ctl.rootPosition(), app.markers());
      report.draw_ms = (performance.now() - t0) / 30;
    } else report.draw_ms = null;
    report.llc_ms = ctl.timing.llc_ms;
    // 4. (?realtime=SECONDS) the page as a visitor sees it: the animation loop in real time, W held
    app.reset();
    const seconds = Number(params.get('realtime') || 0);
    if (seconds > 0) {
      press('w', true);
      const before = { ...app.totals }, t0 = performance.now();
      app.start();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const sec = (performance.now() - t0) / 1000;
      press('w', false);
      report.realtime = { seconds: sec, fps: (app.totals.frames - before.frames) / sec,
        physics_hz: ((app.totals.controlSteps - before.controlSteps) * ctl.substeps) / sec,
        root_height: ctl.rootPosition()[2] };
    }
  } catch (err) {
    report.errors.push(`${err && err.stack ? err.stack : err}`);
  }
  report.ok = report.errors.length === 0;
  const text = JSON.stringify(report);
  const pre = document.getElementById('selftest');
  pre.hidden = false;
  pre.textContent = text;
  document.title = report.ok ? 'selftest ok' : 'selftest failed';
  try {
    await fetch('/__selftest', { method: 'POST', body: text, headers: { 'Content-Type': 'application/json' } });
  } catch (err) {
    // a plain static server has no such endpoint: the report stays on the page
  }
  console.error = consoleError;
  return report;
}
