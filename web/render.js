// three.js view of a MuJoCo model: one mesh per geom of the MJCF (plane, sphere, capsule, ellipsoid,
// cylinder, box), placed each frame from MjData's geom_xpos / geom_xmat. World axes are MuJoCo's (z up).
import * as THREE from 'three';
import { OrbitControls } from './vendor/three/OrbitControls.js';

const GEOM = { PLANE: 0, SPHERE: 2, CAPSULE: 3, ELLIPSOID: 4, CYLINDER: 5, BOX: 6 };

function checkerTexture(rgb1, rgb2) {
  const c = document.createElement('canvas');
  c.width = c.height = 64;
  const g = c.getContext('2d');
  const css = (rgb) => `rgb(${rgb.map((v) => Math.round(255 * v)).join(',')})`;
  g.fillStyle = css(rgb1); g.fillRect(0, 0, 64, 64);
  g.fillStyle = css(rgb2); g.fillRect(0, 0, 32, 32); g.fillRect(32, 32, 32, 32);
  const t = new THREE.CanvasTexture(c);
  t.wrapS = t.wrapT = THREE.RepeatWrapping;
  t.magFilter = THREE.NearestFilter;
  t.colorSpace = THREE.SRGBColorSpace;
  return t;
}

function geomMesh(type, size, rgba) {
  const color = new THREE.Color().setRGB(rgba[0], rgba[1], rgba[2], THREE.SRGBColorSpace);
  const mat = new THREE.MeshStandardMaterial({ color, roughness: 0.6, metalness: 0.05,
    transparent: rgba[3] < 1, opacity: rgba[3] });
  let geo;
  switch (type) {
    case GEOM.PLANE: {
      const half = size[0] > 0 ? size[0] : 50;
      geo = new THREE.PlaneGeometry(2 * half, 2 * half);
      const tex = checkerTexture([0.32, 0.36, 0.4], [0.26, 0.3, 0.34]);
      tex.repeat.set(half, half); // 2 m checker squares of 1 m each
      return new THREE.Mesh(geo, new THREE.MeshStandardMaterial({ map: tex, roughness: 0.9 }));
    }
    case GEOM.SPHERE: geo = new THREE.SphereGeometry(size[0], 24, 16); break;
    case GEOM.ELLIPSOID: geo = new THREE.SphereGeometry(1, 24, 16); geo.scale(size[0], size[1], size[2]); break;
    case GEOM.CAPSULE: geo = new THREE.CapsuleGeometry(size[0], 2 * size[1], 8, 16); geo.rotateX(Math.PI / 2); break;
    case GEOM.CYLINDER: geo = new THREE.CylinderGeometry(size[0], size[0], 2 * size[1], 24); geo.rotateX(Math.PI / 2); break;
    case GEOM.BOX: geo = new THREE.BoxGeometry(2 * size[0], 2 * size[1], 2 * size[2]); break;
    default: return null; // meshes, height fields: not drawn (the exported characters are primitives only)
  }
  return new THREE.Mesh(geo, mat);
}

export class View {
  constructor(container, model, { low = false } = {}) {
    this.container = container;
    const r = (this.renderer = new THREE.WebGLRenderer({ antialias: !low, preserveDrawingBuffer: true }));
    r.setPixelRatio(low ? 1 : Math.min(window.devicePixelRatio || 1, 2));
    r.shadowMap.enabled = !low;
    r.shadowMap.type = THREE.PCFSoftShadowMap;
    container.appendChild(r.domElement);
    const scene = (this.scene = new THREE.Scene());
    scene.background = new THREE.Color(0x9db7cf);
    scene.fog = new THREE.Fog(0x9db7cf, 15, 45);
    const cam = (this.camera = new THREE.PerspectiveCamera(45, 1, 0.05, 200));
    cam.up.set(0, 0, 1);
    cam.position.set(2.2, -4.2, 1.7);
    this.controls = new OrbitControls(cam, r.domElement);
    this.controls.target.set(0, 0, 0.9);
    this.controls.maxPolarAngle = Math.PI * 0.49;
    this.controls.update();
    scene.add(new THREE.HemisphereLight(0xddeeff, 0x404040, 1.6));
    const sun = (this.sun = new THREE.DirectionalLight(0xffffff, 2.2));
    sun.position.set(2, -3, 6);
    sun.castShadow = true;
    sun.shadow.mapSize.set(1024, 1024);
    Object.assign(sun.shadow.camera, { left: -4, right: 4, top: 4, bottom: -4, near: 0.5, far: 20 });
    scene.add(sun, sun.target);
    this.meshes = [];
    const n = model.ngeom, types = model.geom_type, sizes = model.geom_size, rgba = model.geom_rgba;
    for (let i = 0; i < n; i++) {
      const mesh = geomMesh(types[i], Array.from(sizes.slice(3 * i, 3 * i + 3)), Array.from(rgba.slice(4 * i, 4 * i + 4)));
      if (!mesh || rgba[4 * i + 3] === 0) { this.meshes.push(null); continue; }
      mesh.matrixAutoUpdate = false;
      mesh.castShadow = types[i] !== GEOM.PLANE;
      mesh.receiveShadow = true;
      scene.add(mesh);
      this.meshes.push(mesh);
    }
    // markers: the steering goal (direction arrow, facing arrow) and a location/reach target
    this.moveArrow = new THREE.ArrowHelper(new THREE.Vector3(1, 0, 0), new THREE.Vector3(), 1, 0xe0a020, 0.2, 0.12);
    this.faceArrow = new THREE.ArrowHelper(new THREE.Vector3(1, 0, 0), new THREE.Vector3(), 0.7, 0x30c0e0, 0.15, 0.1);
    this.target = new THREE.Mesh(new THREE.CylinderGeometry(0.05, 0.05, 1.0, 12).rotateX(Math.PI / 2).translate(0, 0, 0.5),
      new THREE.MeshStandardMaterial({ color: 0xe03030 }));
    this.moveArrow.visible = this.faceArrow.visible = this.target.visible = false;
    scene.add(this.moveArrow, this.faceArrow, this.target);
    this.follow = true;
    this.lastRoot = [0, 0, 0.9]; // where the camera looks at first
    this.resize();
    window.addEventListener('resize', () => this.resize());
  }

  resize() {
    const w = this.container.clientWidth || 800, h = this.container.clientHeight || 600;
    this.renderer.setSize(w, h);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  /** Yaw of the camera's viewing direction on the ground (keyboard steering is camera-relative). */
  cameraYaw() {
    const d = new THREE.Vector3();
    this.camera.getWorldDirection(d);
    return Math.atan2(d.y, d.x);
  }

  /** The ground point (z = 0) under a pointer event, or null. */
  groundPoint(event) {
    const rect = this.renderer.domElement.getBoundingClientRect();
    const ndc = new THREE.Vector2(((event.clientX - rect.left) / rect.width) * 2 - 1, -((event.clientY - rect.top) / rect.height) * 2 + 1);
    const ray = new THREE.Raycaster();
    ray.setFromCamera(ndc, this.camera);
    const hit = new THREE.Vector3();
    return ray.ray.intersectPlane(new THREE.Plane(new THREE.Vector3(0, 0, 1), 0), hit) ? [hit.x, hit.y] : null;
  }

  /** Draw MjData's current state; the camera follows the root (xy) when `follow`. */
  draw(data, rootPos, markers = {}) {
    const xpos = data.geom_xpos, xmat = data.geom_xmat;
    this.meshes.forEach((mesh, i) => {
      if (!mesh) return;
      const p = 3 * i, r = 9 * i;
      mesh.matrix.set(xmat[r], xmat[r + 1], xmat[r + 2], xpos[p], xmat[r + 3], xmat[r + 4], xmat[r + 5], xpos[p + 1],
        xmat[r + 6], xmat[r + 7], xmat[r + 8], xpos[p + 2], 0, 0, 0, 1);
    });
    if (this.follow) {
      const dx = rootPos[0] - this.lastRoot[0], dy = rootPos[1] - this.lastRoot[1];
      this.camera.position.x += dx; this.camera.position.y += dy;
      this.controls.target.x += dx; this.controls.target.y += dy;
    }
    this.lastRoot = rootPos.slice();
    this.controls.update();
    this.sun.position.set(rootPos[0] + 2, rootPos[1] - 3, 6);
    this.sun.target.position.set(rootPos[0], rootPos[1], 0);
    const base = new THREE.Vector3(rootPos[0], rootPos[1], 0.02);
    this.moveArrow.visible = markers.direction !== undefined;
    if (this.moveArrow.visible) {
      this.moveArrow.position.copy(base);
      this.moveArrow.setDirection(new THREE.Vector3(Math.cos(markers.direction), Math.sin(markers.direction), 0));
      this.moveArrow.setLength(0.3 + 0.4 * (markers.speed || 0), 0.2, 0.12);
    }
    this.faceArrow.visible = markers.facing !== undefined;
    if (this.faceArrow.visible) {
      this.faceArrow.position.set(rootPos[0], rootPos[1], 0.04);
      this.faceArrow.setDirection(new THREE.Vector3(Math.cos(markers.facing), Math.sin(markers.facing), 0));
    }
    this.target.visible = !!markers.target;
    if (markers.target) {
      this.target.position.set(markers.target[0], markers.target[1], 0);
      this.target.scale.set(1, 1, markers.target.length > 2 ? Math.max(markers.target[2], 0.05) : 1);
    }
    this.renderer.render(this.scene, this.camera);
  }
}
