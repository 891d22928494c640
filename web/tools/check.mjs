// The page's controller code (web/controller.js) run in Node on jobs from a JSON file, for the tests and the
// physics comparison with Python (tests/test_web.py, docs/web.md):
//
//   node web/tools/check.mjs JOBS.json > RESULTS.json
//
// JOBS.json: {"page": folder with controller.json and vendor/ (launch.py export --web), "jobs": [...]}, each job
//   {"kind": "obs_from_bodies", "bodies": {name: {pos, quat, lin_vel, ang_vel}}}          no MuJoCo needed
//   {"kind": "frame", "qpos", "qvel"}              observation, action and PD targets (example latent)
//   {"kind": "physics", "qpos", "qvel", "ctrl": [[nu] per control step], "substeps"}    open-loop stepping
//   {"kind": "closed_loop", "qpos"?, "qvel"?, "steps", "latent"? | "goal"?}   the LLC (or HLC with a goal)
// Results: one object per job, in order, with qpos/qvel/obs/... as plain arrays.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { WebController, exampleLatent, policyObservation } from '../controller.js';

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const page = path.resolve(spec.page);
const config = JSON.parse(fs.readFileSync(path.join(page, 'controller.json'), 'utf8'));

async function controller() {
  const loadMujoco = (await import(pathToFileURL(path.join(page, 'vendor/mujoco/mujoco.js')).href)).default;
  const ort = await import(pathToFileURL(path.join(page, 'vendor/ort/ort.wasm.min.js')).href);
  const ortFile = (f) => pathToFileURL(path.join(page, 'vendor/ort', f)).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { mjs: ortFile('ort-wasm-simd-threaded.js'), wasm: ortFile('ort-wasm-simd-threaded.wasm') };
  const mujoco = await loadMujoco({ locateFile: (f) => path.join(page, 'vendor/mujoco', f) });
  const read = (f) => new Uint8Array(fs.readFileSync(path.join(page, f)));
  const xml = fs.readFileSync(path.join(page, config.character.mjcf), 'utf8');
  const hlc = config.models.hlc ? read(config.models.hlc.file) : null;
  const ctl = await WebController.create({ mujoco, ort, config, xml, llc: read(config.models.llc.file), hlc });
  ctl.mujocoVersion = mujoco.mj_versionString();
  return ctl;
}

const results = [];
let ctl = null;
for (const job of spec.jobs) {
  if (job.kind === 'obs_from_bodies') {
    const names = config.character.bodies.map((b) => b.name);
    const s = { pos: [], quat: [], lin: [], ang: [] };
    for (const n of names) {
      const b = job.bodies[n];
      s.pos.push(...b.pos); s.quat.push(...b.quat); s.lin.push(...b.lin_vel); s.ang.push(...b.ang_vel);
    }
    results.push({ obs: Array.from(policyObservation(config, s)) });
    continue;
  }
  ctl = ctl || (await controller());
  const t0 = performance.now();
  if (job.kind === 'frame') {
    ctl.reset(job.qpos, job.qvel);
    const obs = Array.from(ctl.observe());
    const action = Array.from(await ctl.step(exampleLatent(ctl.latentDim)));
    results.push({ obs, action, pd_target: Array.from(ctl.data.ctrl.slice(0, ctl.nu)) });
  } else if (job.kind === 'physics') {
    ctl.reset(job.qpos, job.qvel);
    const states = [];
    for (const c of job.ctrl) {
      ctl.applyTargets(Float64Array.from(c));
      states.push(ctl.state());
    }
    results.push({ states, mujoco: ctl.mujocoVersion, ms: performance.now() - t0 });
  } else if (job.kind === 'closed_loop') {
    ctl.reset(job.qpos || null, job.qvel || null);
    const latent = job.latent ? Float32Array.from(job.latent) : exampleLatent(ctl.latentDim);
    const states = [];
    if (job.goal) ctl.setGoal(job.goal);
    for (let k = 0; k < job.steps; k++) {
      if (job.goal) await ctl.stepTask();
      else await ctl.step(latent);
      states.push(ctl.state());
    }
    results.push({ states, ms: performance.now() - t0 });
  } else {
    throw new Error(`unknown job kind ${job.kind}`);
  }
}
process.stdout.write(JSON.stringify({ results, mujoco: ctl ? ctl.mujocoVersion : null }));
