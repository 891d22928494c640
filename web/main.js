// The page: loads the export (controller.json, the MJCF, llc.onnx, hlc.onnx), MuJoCo's WebAssembly build
// and onnxruntime-web, then runs the control loop on a fixed 30 Hz clock (4 physics steps of 1/120 s each)
// while three.js draws every animation frame. ?selftest runs web/selftest.js instead of waiting for input.
import * as ort from './vendor/ort/ort.wasm.min.js';
import loadMujoco from './vendor/mujoco/mujoco.js';
import { WebController, normalize, randomLatent, setComponent } from './controller.js';

const RUN_SPEED = 3.5; // m/s with shift (the steering controller's top speed)
const FACING_RATE = (120 * Math.PI) / 180; // rad/s while Q / E is held
const MAX_CATCH_UP = 4; // control steps per animation frame at most (a slow machine runs slower than real time)
const MOVE_KEYS = { w: [1, 0], arrowup: [1, 0], s: [-1, 0], arrowdown: [-1, 0], a: [0, 1], arrowleft: [0, 1],
  d: [0, -1], arrowright: [0, -1] };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function fetchText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** controller.json's optional `skills` ({name: latent}), normalized; entries of another size are left out. */
export function namedSkills(config) {
  const out = {};
  const given = config.skills && typeof config.skills === 'object' ? config.skills : {};
  for (const [name, z] of Object.entries(given)) {
    if (Array.isArray(z) && z.length === config.latent.size && z.every(Number.isFinite)) out[name] = normalize(z);
    else console.warn(`controller.json: skill '${name}' is not a latent of size ${config.latent.size}; left out`);
  }
  return out;
}

export class App {
  constructor(ctl, view) {
    this.ctl = ctl;
    this.view = view; // null without WebGL: the simulation runs, nothing is drawn
    this.config = ctl.config;
    this.mode = 'llc';
    this.paused = false;
    this.held = new Set();
    this.facing = 0;
    this.direction = 0;
    this.skills = namedSkills(this.config); // {name: unit latent}: controller.json's `skills`, when it has them
    this.latent = Float32Array.from(ctl.latent);
    this.acc = 0;
    this.last = null;
    this.stats = { frames: 0, controlSteps: 0, since: performance.now(), fps: 0, physicsHz: 0 };
    this.busy = false;
    this.running = false;
    this.totals = { frames: 0, controlSteps: 0 }; // since the loop started (the self-test's real-time rates)
  }

  /** Start the animation loop (once). */
  start() {
    if (this.running) return;
    this.running = true;
    requestAnimationFrame((t) => this.frame(t));
  }

  // ---- one control step, as the loop and the self-test run it ----------------------------------------------
  async controlStep() {
    if (this.mode === 'hlc' && this.ctl.hlc) await this.ctl.stepTask();
    else await this.ctl.step(this.latent);
    this.stats.controlSteps += 1;
    this.totals.controlSteps += 1;
  }

  /** Keyboard and gamepad state -> the task goal (world frame, camera-relative), once per frame. */
  updateGoal(dt) {
    const task = this.ctl.task;
    if (!task) return;
    let mx = 0, my = 0;
    for (const k of this.held) if (MOVE_KEYS[k]) { mx += MOVE_KEYS[k][0]; my += MOVE_KEYS[k][1]; }
    let turn = (this.held.has('q') ? 1 : 0) - (this.held.has('e') ? 1 : 0);
    const pad = navigator.getGamepads ? Array.from(navigator.getGamepads()).find((g) => g) : null;
    if (pad) {
      const dz = (v) => (Math.abs(v) > 0.2 ? v : 0);
      mx -= dz(pad.axes[1] || 0); my -= dz(pad.axes[0] || 0);
      turn -= dz(pad.axes[2] || 0);
    }
    const camYaw = this.view ? this.view.cameraYaw() : 0;
    const moving = Math.hypot(mx, my) > 1e-6;
    if (moving) this.direction = camYaw + Math.atan2(my, mx);
    const speed = moving ? (this.held.has('shift') ? RUN_SPEED : Number($('speed').value)) : 0;
    if ($('facing-follows').checked) this.facing = this.direction;
    else this.facing += turn * FACING_RATE * dt;
    if (task === 'steering' || task === 'speed') this.ctl.setGoal({ direction: this.direction, speed, facing: this.facing });
  }

  markers() {
    const t = this.ctl.task;
    if (this.mode !== 'hlc' || !t) return {};
    if (t === 'steering') return { direction: this.direction, speed: this.ctl.goal.speed, facing: this.facing };
    if (t === 'speed') return { direction: this.direction, speed: this.ctl.goal.speed };
    return { target: this.ctl.goal.target };
  }

  async frame(t) {
    requestAnimationFrame((t2) => this.frame(t2));
    if (this.busy) return;
    this.busy = true;
    try {
      const dt = this.last === null ? 0 : Math.min((t - this.last) / 1000, 0.1);
      this.last = t;
      this.updateGoal(dt);
      const controlDt = 1 / this.config.rates.control_hz;
      if (!this.paused) {
        this.acc += dt;
        let n = 0;
        while (this.acc >= controlDt && n < MAX_CATCH_UP) { await this.controlStep(); this.acc -= controlDt; n += 1; }
        if (n === MAX_CATCH_UP) this.acc = 0; // behind real time: drop the backlog rather than spiral
      }
      if (this.view) this.view.draw(this.ctl.data, this.ctl.rootPosition(), this.markers());
      this.readout();
    } catch (err) {
      fail(err);
      throw err;
    } finally {
      this.busy = false;
    }
  }

  readout() {
    const s = this.stats, now = performance.now();
    s.frames += 1;
    this.totals.frames += 1;
    if (now - s.since >= 500) {
      const sec = (now - s.since) / 1000;
      s.fps = s.frames / sec;
      s.physicsHz = (s.controlSteps * this.ctl.substeps) / sec;
      s.frames = 0; s.controlSteps = 0; s.since = now;
      const tm = this.ctl.timing, root = this.ctl.rootPosition();
      let lines = `${s.fps.toFixed(0)} fps, physics ${s.physicsHz.toFixed(0)} of ${this.config.rates.physics_hz} Hz\n`;
      lines += `LLC ${tm.llc_ms.toFixed(2)} ms, 4 steps ${tm.physics_ms.toFixed(2)} ms\n`.replace('4', this.ctl.substeps);
      if (this.ctl.hlc) lines += `HLC ${tm.hlc_ms.toFixed(2)} ms (every ${this.ctl.holdSteps} steps)\n`;
      lines += `root height ${root[2].toFixed(2)} m, t ${this.ctl.data.time.toFixed(1)} s${this.paused ? ' (paused)' : ''}`;
      const near = this.nearestSkill();
      if (near) lines += `\nnearest skill ${near[0]} (cos ${near[1].toFixed(2)})`;
      $('readout').textContent = lines;
    }
  }

  nearestSkill() {
    let best = null;
    const z = this.mode === 'hlc' ? this.ctl.latent : this.latent;
    for (const [name, v] of Object.entries(this.skills)) {
      let d = 0;
      for (let k = 0; k < z.length; k++) d += z[k] * v[k];
      if (!best || d > best[1]) best = [name, d];
    }
    return best;
  }

  // ---- controls -----------------------------------------------------------------------------------------
  setLatent(z, fromSlider = -1) {
    this.latent = normalize(z);
    this.setMode('llc');
    this.sliders.forEach((s, i) => { if (i !== fromSlider) s.value = this.latent[i].toFixed(3); });
  }

  setMode(mode) {
    this.mode = mode === 'hlc' && this.ctl.hlc ? 'hlc' : 'llc';
    document.querySelector(`input[name=mode][value=${this.mode}]`).checked = true;
    // the HLC decides from the next control step: start its hold period now
    if (this.mode === 'hlc') this.ctl.controlSteps = 0;
  }

  shove(yaw) {
    const f = Number($('shove-strength').value);
    this.ctl.shove([f * Math.cos(yaw), f * Math.sin(yaw), 0]);
  }

  reset() {
    this.ctl.reset();
    this.direction = this.facing = 0;
    this.acc = 0;
  }

  buildUI() {
    const cfg = this.config;
    $('latent-dim').textContent = cfg.latent.size;
    const skillBox = $('skills');
    const names = Object.keys(this.skills);
    if (!names.length) {
      skillBox.innerHTML = '<p class="help">This export names no skills (controller.json has no <code>skills</code>): ' +
        'pick latents with the sliders or at random.</p>';
    }
    for (const name of names) {
      const b = document.createElement('button');
      b.textContent = name;
      b.dataset.skill = name;
      b.onclick = () => {
        skillBox.querySelectorAll('button').forEach((x) => x.classList.remove('active'));
        b.classList.add('active');
        this.setLatent(this.skills[name]);
      };
      skillBox.appendChild(b);
    }
    this.sliders = [];
    for (let i = 0; i < cfg.latent.size; i++) {
      const label = document.createElement('label');
      label.innerHTML = `<span>${String(i).padStart(2, '0')}</span>`;
      const s = document.createElement('input');
      Object.assign(s, { type: 'range', min: -1, max: 1, step: 0.005, value: this.latent[i] });
      s.oninput = () => this.setLatent(setComponent(this.latent, i, Number(s.value)), i);
      label.appendChild(s);
      $('sliders').appendChild(label);
      this.sliders.push(s);
    }
    $('random').onclick = () => this.setLatent(randomLatent(cfg.latent.size));
    $('reset').onclick = () => this.reset();
    $('pause').onclick = () => { this.paused = !this.paused; };
    $('shove').onclick = () => this.shove(this.view ? this.view.cameraYaw() : 0);
    $('shove-strength').oninput = () => { $('shove-value').textContent = $('shove-strength').value; };
    $('speed').oninput = () => { $('speed-value').textContent = $('speed').value; };
    if (cfg.hlc) {
      const task = cfg.hlc.task;
      $('mode-section').hidden = false;
      $('task-section').hidden = false;
      $('task-name').textContent = task;
      $('task-title').textContent = task;
      const help = { steering: 'W A S D steer (camera-relative), shift runs, Q / E turn the facing goal.',
        speed: 'W A S D steer (camera-relative), shift runs.',
        location: 'Click the ground: the character walks to the red post.',
        reach: 'Click the ground: the right hand reaches for the post top (1 m high).' };
      $('task-help').textContent = help[task] || `task '${task}' needs goals this page does not set`;
      document.querySelectorAll('input[name=mode]').forEach((r) => { r.onchange = () => this.setMode(r.value); });
      if (task === 'location') this.ctl.setGoal({ target: [3, 0] });
      if (task === 'reach') this.ctl.setGoal({ target: [0.5, -0.3, 1.0] });
      if (!['steering', 'speed', 'location', 'reach'].includes(task)) $('mode-hlc-label').hidden = true;
      else this.setMode('hlc');
    }
    window.addEventListener('keydown', (e) => this.key(e, true));
    window.addEventListener('keyup', (e) => this.key(e, false));
    window.addEventListener('blur', () => this.held.clear());
    if (this.view) this.pointer(this.view.renderer.domElement);
  }

  key(e, down) {
    if (e.target && e.target.tagName === 'INPUT' && e.target.type !== 'range' && e.target.type !== 'checkbox') return;
    const k = e.key.toLowerCase();
    if (down) this.held.add(k); else this.held.delete(k);
    if (k === 'shift' && this.view) this.view.controls.enabled = !down;
    if (!down || e.repeat) return;
    if (MOVE_KEYS[k] && this.ctl.hlc && this.mode !== 'hlc' && ['steering', 'speed'].includes(this.ctl.task)) this.setMode('hlc');
    if (k === 'r') this.reset();
    else if (k === 'z') this.setLatent(randomLatent(this.config.latent.size));
    else if (k === 'b') this.shove(this.view ? this.view.cameraYaw() : 0);
    else if (k === ' ') { this.paused = !this.paused; e.preventDefault(); }
    else if (k === 'c' && this.view) this.view.follow = !this.view.follow;
    if (k.startsWith('arrow')) e.preventDefault();
  }

  pointer(el) {
    let start = null;
    el.addEventListener('pointerdown', (e) => { start = { x: e.clientX, y: e.clientY, shift: e.shiftKey }; });
    el.addEventListener('pointerup', (e) => {
      if (!start) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (start.shift && Math.hypot(dx, dy) > 8) {
        // screen right = camera right, screen up = camera forward on the ground
        this.shove(this.view.cameraYaw() + Math.atan2(-dx, -dy));
      } else if (Math.hypot(dx, dy) < 4 && ['location', 'reach'].includes(this.ctl.task)) {
        const p = this.view.groundPoint(e);
        if (p) { this.ctl.setGoal({ target: this.ctl.task === 'reach' ? [p[0], p[1], 1.0] : p }); this.setMode('hlc'); }
      }
      start = null;
    });
  }
}

function fail(err) {
  const s = $('status');
  s.classList.add('error');
  s.textContent = `error: ${err && err.message ? err.message : err}`;
  console.error(err);
}

async function main() {
  const config = JSON.parse(await fetchText('controller.json'));
  const ortDir = new URL('./vendor/ort/', location.href).href;
  ort.env.wasm.wasmPaths = { mjs: `${ortDir}ort-wasm-simd-threaded.js`, wasm: `${ortDir}ort-wasm-simd-threaded.wasm` };
  ort.env.wasm.numThreads = 1; // a plain static server is not cross-origin isolated: no wasm threads
  const precision = params.get('precision') === 'fp16' ? 'fp16_file' : 'file';
  const model = (k) => (config.models[k] ? config.models[k][precision] || config.models[k].file : null);
  const [mujoco, xml, llc, hlc] = await Promise.all([
    loadMujoco({ locateFile: (f) => new URL(`./vendor/mujoco/${f}`, location.href).href }),
    fetchText(config.character.mjcf),
    fetchBytes(model('llc')),
    config.hlc && model('hlc') ? fetchBytes(model('hlc')) : null,
  ]);
  const ctl = await WebController.create({ mujoco, ort, config, xml, llc, hlc });
  let view = null;
  try {
    const { View } = await import('./render.js');
    view = new View($('view'), ctl.model, { low: params.get('quality') === 'low' });
  } catch (err) {
    console.warn('no 3D view:', err);
    $('view').textContent = `No WebGL here (${err.message}): the simulation runs without a picture.`;
  }
  const app = new App(ctl, view);
  app.buildUI();
  window.app = app;
  const src = config.sources && config.sources.llc ? config.sources.llc.file : 'llc';
  $('status').textContent = `${config.character.name}: ${src}${config.hlc ? ` + ${config.hlc.task} HLC` : ''}, ` +
    `MuJoCo ${mujoco.mj_versionString()} (WebAssembly)`;
  for (const k of (params.get('keys') || '').toLowerCase().split(',').filter(Boolean)) app.held.add(k); // ?keys=w: held
  const warmup = Number(params.get('warmup') || 0) * config.rates.control_hz; // ?warmup=SECONDS simulated first
  for (let k = 0; k < warmup; k++) { app.updateGoal(1 / config.rates.control_hz); await app.controlStep(); }
  if (params.has('selftest')) {
    const { selftest } = await import('./selftest.js');
    await selftest(app, params);
  }
  app.start();
}

window.addEventListener('error', (e) => fail(e.error || e.message));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));
main().catch(fail);
