// The exported controller's loop in JavaScript: observation, LLC, HLC, PD targets, MuJoCo physics.
//
// Mirrors controllers/runtime/controller.py and follows docs/game-engines.md; every size, order and rate
// comes from controller.json (never from this file). Runs in a browser and in Node (the tests import it):
// the MuJoCo WebAssembly module and onnxruntime-web are passed in, nothing here touches the page.

export const FORMAT = 'ase-runtime/controller';
export const FORMAT_VERSION = 1;

// ---- rotations (quaternions w, x, y, z) ----------------------------------------------------------------

/** Yaw of the x axis of a quaternion's rotation: atan2(2(xy + wz), 1 - 2(y^2 + z^2)). */
export function headingOf(w, x, y, z) {
  return Math.atan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z));
}

/** Rotation vector (axis times angle, angle in [0, pi]) of a quaternion: the ball-joint PD target units. */
export function quatToRotvec(w, x, y, z) {
  if (w < 0) { w = -w; x = -x; y = -y; z = -z; }
  const s = Math.hypot(x, y, z);
  const k = s > 1e-8 ? (2 * Math.atan2(s, w)) / s : 2.0;
  return [k * x, k * y, k * z];
}

// ---- the policy observation ----------------------------------------------------------------------------

/**
 * Writers for each slice of observations.policy, by name (docs/game-engines.md, "The policy observation").
 * Each gets the body states (flat arrays: pos B*3, quat B*4, lin B*3, ang B*3), the heading's cos/sin and
 * writes `size` numbers at `start`; it checks the size it is given against B.
 */
const POLICY_SLICES = {
  root_height: { size: () => 1, write: (o, at, s) => { o[at] = s.pos[2]; } },
  body_pos: {
    size: (B) => 3 * (B - 1),
    write: (o, at, s, c, n, B) => {
      for (let i = 1; i < B; i++) {
        const dx = s.pos[3 * i] - s.pos[0], dy = s.pos[3 * i + 1] - s.pos[1], dz = s.pos[3 * i + 2] - s.pos[2];
        const k = at + 3 * (i - 1);
        o[k] = c * dx + n * dy; o[k + 1] = -n * dx + c * dy; o[k + 2] = dz;
      }
    },
  },
  body_rot: {
    size: (B) => 6 * B,
    write: (o, at, s, c, n, B) => {
      for (let i = 0; i < B; i++) {
        const w = s.quat[4 * i], x = s.quat[4 * i + 1], y = s.quat[4 * i + 2], z = s.quat[4 * i + 3];
        // R x^ and R z^: the first and third columns of the rotation matrix
        const ax = 1 - 2 * (y * y + z * z), ay = 2 * (x * y + w * z), az = 2 * (x * z - w * y);
        const bx = 2 * (x * z + w * y), by = 2 * (y * z - w * x), bz = 1 - 2 * (x * x + y * y);
        const k = at + 6 * i;
        o[k] = c * ax + n * ay; o[k + 1] = -n * ax + c * ay; o[k + 2] = az;
        o[k + 3] = c * bx + n * by; o[k + 4] = -n * bx + c * by; o[k + 5] = bz;
      }
    },
  },
  body_lin_vel: { size: (B) => 3 * B, write: (o, at, s, c, n, B) => turnAll(o, at, s.lin, c, n, B) },
  body_ang_vel: { size: (B) => 3 * B, write: (o, at, s, c, n, B) => turnAll(o, at, s.ang, c, n, B) },
};

function turnAll(o, at, v, c, n, B) {
  for (let i = 0; i < B; i++) {
    const x = v[3 * i], y = v[3 * i + 1];
    o[at + 3 * i] = c * x + n * y; o[at + 3 * i + 1] = -n * x + c * y; o[at + 3 * i + 2] = v[3 * i + 2];
  }
}

/** Check observations.policy against the formulas this file knows; returns the slice list. Throws naming
 * the slice when a later export's layout is not one this page can build. */
export function checkPolicyLayout(config) {
  const layout = config.observations.policy;
  const B = config.character.bodies.length;
  let total = 0;
  for (const sl of layout.slices) {
    const known = POLICY_SLICES[sl.name];
    if (!known) throw new Error(`controller.json: observation slice '${sl.name}' is unknown to this page`);
    if (known.size(B) !== sl.size || sl.start !== total) {
      throw new Error(`controller.json: observation slice '${sl.name}' (start ${sl.start}, size ${sl.size}) ` +
        `is not the documented one for ${B} bodies`);
    }
    total += sl.size;
  }
  if (total !== layout.size) throw new Error(`controller.json: observation slices add up to ${total}, not ${layout.size}`);
  return layout.slices;
}

/** The policy observation (Float32Array, observations.policy.size) of world body states. */
export function policyObservation(config, states, out) {
  const B = config.character.bodies.length;
  const o = out || new Float32Array(config.observations.policy.size);
  const q = states.quat;
  const psi = headingOf(q[0], q[1], q[2], q[3]);
  const c = Math.cos(psi), n = Math.sin(psi);
  for (const sl of config.observations.policy.slices) POLICY_SLICES[sl.name].write(o, sl.start, states, c, n, B);
  return o;
}

// ---- goal observations (docs/game-engines.md, "Task controllers (HLC)") -------------------------------

/** Goal observation writers per task: (goal in world terms, root position, heading) -> numbers. */
const GOALS = {
  steering: (g, p, psi) => [Math.cos(g.direction - psi), Math.sin(g.direction - psi), g.speed,
    Math.cos(g.facing - psi), Math.sin(g.facing - psi)],
  speed: (g, p, psi) => [Math.cos(g.direction - psi), Math.sin(g.direction - psi), g.speed],
  location: (g, p, psi) => {
    const dx = g.target[0] - p[0], dy = g.target[1] - p[1], c = Math.cos(psi), s = Math.sin(psi);
    return [c * dx + s * dy, -s * dx + c * dy];
  },
  reach: (g, p, psi) => {
    const dx = g.target[0] - p[0], dy = g.target[1] - p[1], c = Math.cos(psi), s = Math.sin(psi);
    return [c * dx + s * dy, -s * dx + c * dy, g.target[2] - p[2]];
  },
};
export const GOAL_TASKS = Object.keys(GOALS);

/** The goal observation of `task` for a world goal and a root position / heading. */
export function goalObservation(task, goal, rootPos, psi) {
  const f = GOALS[task];
  if (!f) throw new Error(`task '${task}' is not driven by this page (it drives ${GOAL_TASKS.join(', ')})`);
  return Float32Array.from(f(goal, rootPos, psi));
}

// ---- latents ------------------------------------------------------------------------------------------

export function normalize(z) {
  let n = 0;
  for (const v of z) n += v * v;
  n = Math.sqrt(n) || 1;
  return Float32Array.from(z, (v) => v / n);
}

/** The unit latent with component `i` set to `value` (within +-0.995), the rest rescaled (app/latents.py). */
export function setComponent(z, i, value) {
  const v = Math.max(-0.995, Math.min(0.995, value));
  const out = Float32Array.from(z);
  let rest = 0;
  for (let k = 0; k < out.length; k++) if (k !== i) rest += out[k] * out[k];
  rest = Math.sqrt(rest);
  if (rest < 1e-9) { out.fill(0); out[(i + 1) % out.length] = 1; rest = 1; }
  const f = Math.sqrt(1 - v * v) / rest;
  for (let k = 0; k < out.length; k++) out[k] = k === i ? v : out[k] * f;
  return out;
}

/** A random unit latent (Gaussian direction) from a seeded generator `rand` () -> [0, 1). */
export function randomLatent(dim, rand = Math.random) {
  const z = new Float32Array(dim);
  for (let k = 0; k < dim; k++) {
    const u = Math.max(rand(), 1e-12), v = rand();
    z[k] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return normalize(z);
}

/** The documented example latent: (+1, -1, +1, ...) / sqrt(dim). */
export function exampleLatent(dim) {
  return Float32Array.from({ length: dim }, (_, k) => (k % 2 ? -1 : 1) / Math.sqrt(dim));
}

// ---- the controller ----------------------------------------------------------------------------------

/** Refuse a sidecar this page cannot run, with a one-line reason. */
export function checkConfig(config) {
  if (!config || config.format !== FORMAT) throw new Error(`controller.json: not an exported controller (format is not '${FORMAT}')`);
  if (config.format_version > FORMAT_VERSION) {
    throw new Error(`controller.json: format ${config.format_version} is newer than this page reads (${FORMAT_VERSION})`);
  }
  checkPolicyLayout(config);
  if (config.hlc && config.goal_layouts.length) {
    const gl = config.goal_layouts[0];
    if (GOALS[gl.task] && gl.size !== GOALS[gl.task]({ direction: 0, speed: 0, facing: 0, target: [0, 0, 0] }, [0, 0, 0], 0).length) {
      throw new Error(`controller.json: the ${gl.task} goal has ${gl.size} numbers, this page writes another size`);
    }
  }
}

/**
 * One character in its own MjData driven by the exported LLC (and the HLC when the export has one).
 *   const ctl = await WebController.create({ mujoco, ort, config, xml, llc, hlc });
 *   ctl.reset(); await ctl.step(latent);          // one 30 Hz control step: LLC, PD targets, 4 physics steps
 *   ctl.setGoal({ direction, speed, facing }); await ctl.stepTask();   // the HLC picks latents
 */
export class WebController {
  static async create({ mujoco, ort, config, xml, llc, hlc = null, sessionOptions = {} }) {
    checkConfig(config);
    const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all', ...sessionOptions };
    const llcSession = await ort.InferenceSession.create(llc, opts);
    const hlcSession = hlc && config.hlc ? await ort.InferenceSession.create(hlc, opts) : null;
    return new WebController(mujoco, ort, config, xml, llcSession, hlcSession);
  }

  constructor(mujoco, ort, config, xml, llcSession, hlcSession) {
    this.mj = mujoco; this.ort = ort; this.config = config;
    this.llc = llcSession; this.hlc = hlcSession;
    const m = (this.model = mujoco.MjModel.from_xml_string(xml));
    this.data = new mujoco.MjData(m);
    const ch = config.character;
    this.bodyIds = ch.bodies.map((b) => {
      const id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY.value, b.name);
      if (id < 0) throw new Error(`${ch.mjcf}: no body '${b.name}' (controller.json lists it)`);
      return id;
    });
    for (const j of config.joints) {
      const id = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT.value, j.name);
      if (id < 0 || m.jnt_qposadr[id] !== j.qpos_address) {
        throw new Error(`${ch.mjcf}: joint '${j.name}' is not where controller.json puts it`);
      }
    }
    this.nu = config.action.size;
    if (m.nu < this.nu) throw new Error(`${ch.mjcf}: ${m.nu} actuators, controller.json needs ${this.nu}`);
    this.B = this.bodyIds.length;
    this.substeps = config.rates.physics_steps_per_control;
    this.latentDim = config.latent.size;
    this.obsDim = config.observations.policy.size;
    this.io = {
      llc: { obs: config.models.llc.inputs[0].name, latent: config.models.llc.inputs[1].name,
        action: config.models.llc.outputs[0].name, target: config.models.llc.outputs[1].name },
      hlc: config.models.hlc ? { obs: config.models.hlc.inputs[0].name, goal: config.models.hlc.inputs[1].name,
        latent: config.models.hlc.outputs[0].name } : null,
    };
    this.task = config.hlc ? config.hlc.task : null;
    this.holdSteps = config.hlc ? config.hlc.hold_steps : config.latent.hold_steps;
    this.rootId = m.body_rootid;
    this.states = { pos: new Float64Array(3 * this.B), quat: new Float64Array(4 * this.B),
      lin: new Float64Array(3 * this.B), ang: new Float64Array(3 * this.B) };
    this.obs = new Float32Array(this.obsDim);
    this.latent = exampleLatent(this.latentDim);
    this.goal = { direction: 0, speed: 1.2, facing: 0, target: [2, 0, 1] };
    this.pendingImpulse = null; // [body id, fx, fy, fz] for the next control step
    this.timing = { llc_ms: 0, hlc_ms: 0, physics_ms: 0 };
    this.reset();
  }

  /** Default pose at rest (or the given qpos / qvel); the PD targets hold the pose. */
  reset(qpos = null, qvel = null) {
    const { mj, model: m, data: d } = this;
    mj.mj_resetData(m, d);
    if (qpos) d.qpos.set(qpos.slice(0, this.config.character.qpos_size));
    if (qvel) d.qvel.set(qvel.slice(0, this.config.character.qvel_size));
    mj.mj_forward(m, d);
    d.ctrl.set(this.jointPositions());
    this.controlSteps = 0;
    this.pendingImpulse = null;
  }

  /** Actuated joint positions in action units: ball rotation vectors, hinge angles (the PD targets that hold). */
  jointPositions() {
    const q = this.data.qpos, out = new Float64Array(this.nu);
    for (const j of this.config.joints) {
      const a = j.qpos_address, k = j.action_index[0];
      if (j.type === 'ball') out.set(quatToRotvec(q[a], q[a + 1], q[a + 2], q[a + 3]), k);
      else out[k] = q[a];
    }
    return out;
  }

  /** World body states (pos, quat, velocity of the frame's origin, angular velocity) into this.states. */
  readBodies() {
    const d = this.data, s = this.states;
    const xpos = d.xpos, xquat = d.xquat, cvel = d.cvel, com = d.subtree_com, root = this.rootId;
    this.bodyIds.forEach((id, i) => {
      const r = root[id];
      const px = xpos[3 * id], py = xpos[3 * id + 1], pz = xpos[3 * id + 2];
      const wx = cvel[6 * id], wy = cvel[6 * id + 1], wz = cvel[6 * id + 2];
      const rx = px - com[3 * r], ry = py - com[3 * r + 1], rz = pz - com[3 * r + 2];
      s.pos[3 * i] = px; s.pos[3 * i + 1] = py; s.pos[3 * i + 2] = pz;
      for (let k = 0; k < 4; k++) s.quat[4 * i + k] = xquat[4 * id + k];
      s.ang[3 * i] = wx; s.ang[3 * i + 1] = wy; s.ang[3 * i + 2] = wz;
      s.lin[3 * i] = cvel[6 * id + 3] + wy * rz - wz * ry;
      s.lin[3 * i + 1] = cvel[6 * id + 4] + wz * rx - wx * rz;
      s.lin[3 * i + 2] = cvel[6 * id + 5] + wx * ry - wy * rx;
    });
    return s;
  }

  observe() {
    return policyObservation(this.config, this.readBodies(), this.obs);
  }

  heading() {
    const q = this.data.xquat, r = 4 * this.bodyIds[0];
    return headingOf(q[r], q[r + 1], q[r + 2], q[r + 3]);
  }

  rootPosition() {
    const p = this.data.xpos, r = 3 * this.bodyIds[0];
    return [p[r], p[r + 1], p[r + 2]];
  }

  /** A shove: `impulse` (N s, world xyz) on `body` (default: torso, else the root) over the next control step. */
  shove(impulse, bodyName = null) {
    const m = this.model, mj = this.mj;
    let id = mj.mj_name2id(m, mj.mjtObj.mjOBJ_BODY.value, bodyName || 'torso');
    if (id < 0) id = this.bodyIds[0];
    this.pendingImpulse = [id, ...impulse];
  }

  /** One control step with a unit latent: observation -> LLC -> PD targets -> physics_steps_per_control steps. */
  async step(latent = this.latent) {
    const ort = this.ort;
    const t0 = now();
    const feeds = {
      [this.io.llc.obs]: new ort.Tensor('float32', Float32Array.from(this.observe()), [1, this.obsDim]),
      [this.io.llc.latent]: new ort.Tensor('float32', Float32Array.from(latent), [1, this.latentDim]),
    };
    const out = await this.llc.run(feeds);
    const t1 = now();
    const action = out[this.io.llc.action].data, target = out[this.io.llc.target].data;
    this.applyTargets(target);
    this.timing.llc_ms = t1 - t0;
    this.timing.physics_ms = now() - t1;
    this.lastAction = action;
    return action;
  }

  /** PD targets into ctrl, then the physics steps of one control step (with a pending shove). */
  applyTargets(target) {
    const { mj, model: m, data: d } = this;
    d.ctrl.set(target.subarray ? target.subarray(0, this.nu) : target.slice(0, this.nu));
    const imp = this.pendingImpulse;
    const dt = m.opt.timestep * this.substeps;
    for (let k = 0; k < this.substeps; k++) {
      if (imp) {
        const x = d.xfrc_applied;
        for (let a = 0; a < 3; a++) x[6 * imp[0] + a] = imp[1 + a] / dt;
      }
      mj.mj_step(m, d);
    }
    if (imp) d.xfrc_applied.fill(0);
    this.pendingImpulse = null;
    mj.mj_fwdPosition(m, d); // positions and velocities of the new state, for the next observation
    mj.mj_fwdVelocity(m, d);
    this.controlSteps += 1;
  }

  /** The goal observation of the goal set with setGoal, in the heading frame now. */
  goalObservation() {
    return goalObservation(this.task, this.goal, this.rootPosition(), this.heading());
  }

  /** World-frame goal (steering/speed: direction, speed, facing yaw; location/reach: target). */
  setGoal(goal) {
    Object.assign(this.goal, goal);
  }

  /** One control step driven by the HLC: every hold_steps steps (from the reset) it picks the latent. */
  async stepTask(goalObs = null) {
    if (!this.hlc) throw new Error('this export has no task controller (export with --hlc)');
    if (this.controlSteps % this.holdSteps === 0) {
      const t0 = now();
      const g = goalObs ? Float32Array.from(goalObs) : this.goalObservation();
      this.lastGoalObs = g;
      const feeds = {
        [this.io.hlc.obs]: new this.ort.Tensor('float32', Float32Array.from(this.observe()), [1, this.obsDim]),
        [this.io.hlc.goal]: new this.ort.Tensor('float32', g, [1, g.length]),
      };
      const out = await this.hlc.run(feeds);
      this.latent = Float32Array.from(out[this.io.hlc.latent].data);
      this.timing.hlc_ms = now() - t0;
    }
    return this.step(this.latent);
  }

  /** qpos and qvel of the character (copies). */
  state() {
    const ch = this.config.character;
    return { qpos: Array.from(this.data.qpos.slice(0, ch.qpos_size)), qvel: Array.from(this.data.qvel.slice(0, ch.qvel_size)) };
  }

  dispose() {
    this.data.delete();
    this.model.delete();
  }
}

function now() {
  return globalThis.performance ? performance.now() : Date.now();
}
