// splatpress viewer: open a .bundle (drag and drop, file picker or ?url=), decode it in a Web Worker
// (web/src/worker.js → web/src/decode.js) and render it with Spark (@sparkjsdev/spark, three.js).
//
// A chunked file (format 5, web/src/chunked.js) streams: from a ?url= that answers HTTP Range requests
// the page fetches the index first, then each chunk (nearest to the camera first), decodes the chunks in a
// pool of workers in parallel and shows each one as soon as it is decoded; a server without Range
// support (or a local file) gives the whole file, whose chunks are shown the same way as they decode. A
// damaged chunk is reported and the others are still shown.
//
// URL parameters
//   url=PATH          bundle to open at start (relative to the page or absolute)
//   camera=JSON       {"position":[x,y,z],"target":[x,y,z],"up":[x,y,z],"fov":degrees} (fov vertical);
//                     the three.js / OpenGL look-at camera (web/README.md: how it maps to OpenCV poses)
//   size=WxH          fixed drawing-buffer size in pixels (device pixel ratio 1), e.g. for tests
//   up=x,y,z          "up" of the default camera (default 0,-1,0: COLMAP / OpenCV worlds, y down)
//   bg=r,g,b          background colour in [0, 1] (default black, as the Python renderer)
//   spark=JSON        SparkRenderer options overriding the defaults below (e.g. {"blurAmount":0.3})
//   budget=N          a chunked file: the most Gaussians shown (default SPLAT_BUDGET): the chunks nearest the
//                     camera that fit are fetched and shown; when the camera moves, chunks that came within the
//                     budget are fetched and shown, and the ones that left it are dropped (0: no budget)
//
// For tests: window.__splatpressReady becomes true after the first frame with the splats drawn
// and sorted (two identical consecutive frames that are not blank); window.__splatpressStats holds
// the numbers shown (for a chunked file also chunks, chunksShown, indexSeconds, firstContentSeconds (the first chunk drawn
// without its SH bands, or whole at SH degree 0), firstChunkSeconds, halfSeconds (half the Gaussians within the splat budget
// shown), allChunksSeconds (every chunk within the budget), budget, chunksInBudget, gaussiansInBudget:
// seconds from the start of loading; and timeline: per chunk in the order shown, when its bytes arrived, when a worker started
// on it, when it was decoded, when it was shown, its decode seconds in the worker, and for the first chunk when its preview was
// shown, its decode seconds and the helper threads it had; and the seconds of every decoder stage); window.__splatpressComplete becomes true when every chunk within the budget is shown (false again while
// the chunks of a new camera position load); stats.shownChunks lists the chunks on screen, fetches counts chunk fetches,
// dropped the chunks taken off screen for the budget, replans the camera moves planned for, planSeconds when the
// latest plan was made and planShownSeconds when all of it was on screen (null until then); window.__splatpressView(camera)
// moves the camera (a camera= object) and plans the chunks from there; window.__splatpressCapture() returns the canvas as a PNG data URL;
// window.__splatpressError holds a decode / load error message.

import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { ExtSplats, SparkRenderer, SplatMesh, utils } from "@sparkjsdev/spark";

import { HEADER_BYTES, chunkRange, indexRange, isChunked, parseChunkIndex } from "../src/chunked.js";

const SH_C0 = 0.28209479177387814;
const CLIP_XY = 1.4;
const params = new URLSearchParams(location.search);
/**
 * The default splat budget of a chunked file: with a million Gaussians of SH degree 3 shown, Chromium's
 * processes together peaked at 1.70 GiB (fern ×48, docs/benchmarks.md); 2.5 million is meant to keep a page
 * under 3 GB (not yet measured at that budget).
 */
const SPLAT_BUDGET = 2_500_000;
const budget = params.get("budget") !== null ? Number(params.get("budget")) : SPLAT_BUDGET;
if (!(Number.isInteger(budget) && budget >= 0)) throw new Error(`budget=${params.get("budget")}: expected a whole number of Gaussians (0: no budget)`);
const $ = (id) => document.getElementById(id);

window.__splatpressReady = false;
window.__splatpressComplete = false;
window.__splatpressError = null;
window.__splatpressStats = null;

function parseVec(text, name) {
  const v = text.split(",").map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new Error(`${name}=${text}: expected three numbers x,y,z`);
  return v;
}

function parseCamera(text) {
  let cam;
  try { cam = JSON.parse(text); } catch (err) { throw new Error(`camera=: not JSON (${err.message})`); }
  const vec = (v, name) => {
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new Error(`camera.${name}: expected [x, y, z]`);
    return v;
  };
  const fov = cam.fov ?? 50;
  if (!(fov > 0 && fov < 180)) throw new Error(`camera.fov: expected degrees in (0, 180), got ${cam.fov}`);
  return { position: vec(cam.position, "position"), target: vec(cam.target, "target"), up: vec(cam.up ?? [0, -1, 0], "up"), fov };
}

// ---- renderer ---------------------------------------------------------------------------------------------

const canvas = $("canvas");
const fixedSize = params.get("size") ? params.get("size").split("x").map(Number) : null;
if (fixedSize && (fixedSize.length !== 2 || fixedSize.some((x) => !(x > 0)))) throw new Error(`size=${params.get("size")}: expected WxH`);
const bg = params.get("bg") ? parseVec(params.get("bg"), "bg") : [0, 0, 0];

const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, alpha: false, preserveDrawingBuffer: true });
renderer.setClearColor(new THREE.Color(bg[0], bg[1], bg[2]), 1);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(50, 1, 0.01, 1e5);
// Settings close to gsplat 1.5.3 (gaussian_renderer/): 2-D blur 0.3 px² without opacity compensation (gsplat's
// "classic" mode: Spark's blurAmount would also scale opacity by sqrt(det Σ / det(Σ + blur)), the antialiased
// mode, so the 0.3 goes into preBlurAmount), α below 1/255 skipped, splats cut at 3.33 σ, sorted by camera
// depth (not radial distance), no level of detail, full-precision accumulation.
const spark = new SparkRenderer({
  renderer,
  preBlurAmount: 0.3,
  blurAmount: 0,
  minAlpha: 1 / 255,
  maxStdDev: 3.33,
  maxPixelRadius: 4096,
  sortRadial: false,
  enableLod: false,
  accumExtSplats: true,
  clipXY: CLIP_XY,
  ...(params.get("spark") ? JSON.parse(params.get("spark")) : {}),  // overrides, e.g. for experiments and tests
});
scene.add(spark);
let controls = null;
let meshes = [];  // one SplatMesh per decoded bundle or chunk
let homeView = null;

function resize() {
  let w, h;
  if (fixedSize) {
    [w, h] = fixedSize;
    renderer.setPixelRatio(1);
    renderer.setSize(w, h, true);
  } else {
    const box = $("view").getBoundingClientRect();
    w = Math.max(1, Math.floor(box.width)); h = Math.max(1, Math.floor(box.height));
    renderer.setPixelRatio(window.devicePixelRatio || 1);
    renderer.setSize(w, h, true);
  }
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener("resize", resize);
resize();

function applyView(view) {
  camera.up.set(...view.up);
  camera.position.set(...view.position);
  camera.fov = view.fov;
  camera.updateProjectionMatrix();
  camera.lookAt(new THREE.Vector3(...view.target));
  if (controls) controls.dispose();
  controls = new OrbitControls(camera, canvas);  // takes camera.up at construction
  controls.target.set(...view.target);
  controls.enableDamping = false;
  controls.addEventListener("start", () => { interacting = true; });
  controls.addEventListener("end", () => { interacting = false; framesOwed = LOADING_FRAMES; replanSoon(); });
  controls.addEventListener("change", () => replanSoon());
  controls.update();
  invalidate();
  replanSoon(0);
}

// For tests and scripts: move the camera (a camera= object or its JSON) as a person would, then plan the chunks.
window.__splatpressView = (view) => {
  applyView(parseCamera(typeof view === "string" ? view : JSON.stringify(view)));
  clearTimeout(replanTimer);
  if (stream) stream.replan(camera.position.toArray());
};

/** Default view: the robust bounding box (1st–99th percentile per axis) seen whole, from −z with y down. */
function defaultView(positions, n) {
  const lo = [], hi = [];
  const stride = Math.max(1, Math.floor(n / 20000));
  for (let a = 0; a < 3; a++) {
    const v = [];
    for (let i = 0; i < n; i += stride) v.push(positions[3 * i + a]);
    v.sort((x, y) => x - y);
    lo.push(v[Math.floor(0.01 * (v.length - 1))]); hi.push(v[Math.ceil(0.99 * (v.length - 1))]);
  }
  return viewOfBox(lo, hi);
}

/** The default view of a box (lo, hi): seen whole, from −z with y down (or the ?up= axis). */
function viewOfBox(lo, hi) {
  const target = lo.map((l, a) => 0.5 * (l + hi[a]));
  const radius = 0.5 * Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) || 1;
  const up = params.get("up") ? parseVec(params.get("up"), "up") : [0, -1, 0];
  const fov = 50;
  const dist = 1.1 * radius / Math.sin((fov * Math.PI) / 360);
  // look along the axis perpendicular to "up" that is most +z (for y-down worlds: the COLMAP forward)
  const u = new THREE.Vector3(...up).normalize();
  const fwd = new THREE.Vector3(0, 0, 1).addScaledVector(u, -u.z);
  if (fwd.lengthSq() < 1e-6) fwd.set(1, 0, 0).addScaledVector(u, -u.x);
  fwd.normalize();
  const position = target.map((t, a) => t - dist * fwd.getComponent(a));
  return { position, target, up, fov };
}

// ---- splats → Spark ---------------------------------------------------------------------------------------

/** ExtSplats (float32 centres, half-float colour/opacity/log-scales, 32-bit quaternions, SH in 8-bit
 *  mantissa + shared exponent per RGB triple) built directly from the decoder's arrays. */
function buildExtSplats(s) {
  const { n, shDegree } = s;
  const max = utils.getTextureSize(n).maxSplats;
  const ext = [new Uint32Array(4 * max), new Uint32Array(4 * max)];
  const P = s.positions, R = s.rotations, S = s.scales, O = s.opacities, D = s.fdc;
  for (let i = 0; i < n; i++) {
    utils.encodeExtSplat(ext, i,
      P[3 * i], P[3 * i + 1], P[3 * i + 2],
      S[3 * i], S[3 * i + 1], S[3 * i + 2],
      R[4 * i + 1], R[4 * i + 2], R[4 * i + 3], R[4 * i],  // x, y, z, w
      O[i],
      0.5 + SH_C0 * D[3 * i], 0.5 + SH_C0 * D[3 * i + 1], 0.5 + SH_C0 * D[3 * i + 2]);
  }
  const extra = {};
  if (shDegree >= 1) {
    // Spark's layout (ExtSplats shaders): sh1 = [b1_0, b1_1, b1_2, b2_0], sh2 = [b2_1..b2_4],
    // sh3a = [b3_0..b3_3], sh3b = [b3_4..b3_6]; each word one RGB triple (utils.encodeExtRgb).
    const K = (shDegree + 1) ** 2 - 1;  // coefficients per colour channel; frest is channel-major
    const F = s.frest;
    const words = [["sh1", 4], ["sh2", 4], ["sh3a", 4], ["sh3b", 4]].slice(0, shDegree === 1 ? 1 : shDegree === 2 ? 2 : 4);
    for (const [name] of words) extra[name] = new Uint32Array(4 * max);
    const slot = (k) => {  // coefficient index k (0-based among the K) → [array, word]
      if (k < 3) return ["sh1", k];
      if (k === 3) return ["sh1", 3];
      if (k < 8) return ["sh2", k - 4];
      if (k < 12) return ["sh3a", k - 8];
      return ["sh3b", k - 12];
    };
    const slots = Array.from({ length: K }, (_, k) => slot(k));
    for (let i = 0; i < n; i++) {
      const base = 3 * K * i;
      for (let k = 0; k < K; k++) {
        const [name, w] = slots[k];
        extra[name][4 * i + w] = utils.encodeExtRgb(F[base + k], F[base + K + k], F[base + 2 * K + k]);
      }
    }
  }
  return new ExtSplats({ extArrays: ext, numSplats: n, extra });
}

// ---- frames, readiness ------------------------------------------------------------------------------------

let frames = 0, stable = 0, lastHash = null, loadedAt = 0;
// While chunks are still being decoded and nobody is moving the camera, frames are drawn only after a change
// (a chunk shown or removed: LOADING_FRAMES of them, for the sort to settle), at most one per LOADING_FRAME_MS:
// where WebGL runs on the CPU (software rendering, headless browsers) every frame of millions of splats takes the
// cores the decoders need.
const LOADING_FRAME_MS = 200;
const LOADING_FRAMES = 5;
let streaming = false, interacting = false, lastFrameAt = 0, framesOwed = 0;
function invalidate() { stable = 0; lastHash = null; framesOwed = LOADING_FRAMES; }

function frameHash() {
  const gl = renderer.getContext();
  const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
  const px = new Uint8Array(4 * w * h);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
  let hash = 0, lit = 0;
  const bgb = bg.map((c) => Math.round(255 * c));
  for (let i = 0; i < px.length; i += 4) {
    hash = (Math.imul(hash, 31) + px[i] + 7 * px[i + 1] + 13 * px[i + 2]) | 0;
    if (px[i] !== bgb[0] || px[i + 1] !== bgb[1] || px[i + 2] !== bgb[2]) lit++;
  }
  return { hash, lit };
}

renderer.setAnimationLoop(() => {
  // nothing to draw before the first file: no frames, so the decoder has the CPU to itself (matters where
  // WebGL runs on the CPU, as in headless browsers)
  if (!meshes.length) return;
  if (controls) controls.update();
  const now = performance.now();
  if (streaming && !interacting) {
    if (framesOwed <= 0 || now - lastFrameAt < LOADING_FRAME_MS) return;
    framesOwed--;
  }
  lastFrameAt = now;
  renderer.render(scene, camera);
  frames++;
  // readiness reads the frame back, which waits until it is drawn: where WebGL runs on the CPU that blocks this
  // thread for as long as a frame of millions of splats takes, and the fetches of the next chunks with it, so
  // it waits until the chunks have stopped coming
  if (!window.__splatpressReady && !streaming && performance.now() - loadedAt > 300) {
    const { hash, lit } = frameHash();
    stable = lit > 0 && hash === lastHash ? stable + 1 : 0;
    lastHash = hash;
    if (stable >= 3) {
      window.__splatpressReady = true;
      setStatus(`ready (${lit} pixels drawn)`);
    }
  }
});

window.__splatpressCapture = () => canvas.toDataURL("image/png");

// ---- loading ----------------------------------------------------------------------------------------------

function setStatus(text) { $("status").textContent = text; }
function fmtBytes(b) { return b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`; }

// The decode worker of a single bundle (and its helper workers) starts with a page that waits for a file, so
// that it is ready when one is dropped; a page opened with ?url= starts it only if the URL is not a chunked
// file (a chunked file has its own workers, which then load alone beside its first chunk).
const newWorker = () => new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let worker = params.get("url") ? null : newWorker();
let busy = false;
function decodeInWorker(bytes, label) {
  if (busy) {  // a new file cancels a decode in flight: a fresh worker
    worker.terminate();
    worker = null;
  }
  if (!worker) worker = newWorker();
  busy = true;
  return new Promise((resolve, reject) => {
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "progress") {
        setStatus(`decoding ${label}: ${m.stage} ${Math.round(100 * m.fraction)}%`);
        $("progress").value = m.fraction;
      } else if (m.type === "done") { busy = false; resolve(m); }
      else if (m.type === "error") { busy = false; reject(new Error(m.message)); }
    };
    worker.onerror = (e) => { busy = false; reject(new Error(e.message || "worker failed")); };
    worker.postMessage({ bytes: bytes.buffer, label }, [bytes.buffer]);
  });
}

/** A load or decode error: on the page's status line and in window.__splatpressError. */
function reportError(err) {
  window.__splatpressError = err.message;
  setStatus(`error: ${err.message}`);
  console.error(err);
}

function clearMeshes() {
  for (const m of meshes) { scene.remove(m); m.dispose(); }
  meshes = [];
}

async function addMesh(splats) {
  const ext = buildExtSplats(splats);
  const m = new SplatMesh({ extSplats: ext });
  await m.initialized;
  scene.add(m);
  meshes.push(m);
  invalidate();
  return m;
}

function removeMesh(m) {
  scene.remove(m);
  m.dispose();
  meshes = meshes.filter((x) => x !== m);
  invalidate();
}

function showStats(rows) {
  $("stats").innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${String(v).replace(/</g, "&lt;")}</td></tr>`).join("");
}

function resetState() {
  loadGeneration++;  // the file being loaded, if any, stops: its loops see a new generation
  if (stream) { stream.stop(); stream = null; }
  streaming = false;
  window.__splatpressReady = false;
  window.__splatpressComplete = false;
  window.__splatpressError = null;
  window.__splatpressStats = null;
  clearMeshes();
}

async function openBytes(bytes, label) {
  if (isChunked(bytes)) {
    const total = bytes.byteLength;
    return openChunked((start, end) => Promise.resolve(bytes.slice(start, Math.min(end, total))), total, label, performance.now(),
      false);
  }
  resetState();
  const size = bytes.byteLength;
  setStatus(`decoding ${label}…`);
  $("progress").hidden = false;
  try {
    const { splats, seconds, version } = await decodeInWorker(bytes, label);
    const t0 = performance.now();
    await addMesh(splats);
    const uploadSeconds = (performance.now() - t0) / 1000;
    const stats = {
      label, fileBytes: size, n: splats.n, shDegree: splats.shDegree, formatVersion: version,
      bitsPerGaussian: (8 * size) / splats.n, decodeSeconds: seconds, uploadSeconds,
    };
    window.__splatpressStats = stats;
    showStats([
      ["file", label], ["Gaussians", stats.n.toLocaleString("en")], ["file size", `${fmtBytes(size)} (${size.toLocaleString("en")} B)`],
      ["bits / Gaussian", stats.bitsPerGaussian.toFixed(2)], ["SH degree", stats.shDegree], ["format", `v${version}`],
      ["decode", `${seconds.toFixed(3)} s (worker)`], ["to GPU arrays", `${uploadSeconds.toFixed(3)} s`],
    ]);
    homeView = params.get("camera") ? parseCamera(params.get("camera")) : defaultView(splats.positions, splats.n);
    applyView(homeView);
    loadedAt = performance.now();
    window.__splatpressComplete = true;
    setStatus(`${label}: rendering…`);
  } catch (err) {
    reportError(err);
  } finally {
    $("progress").hidden = true;
  }
}

// ---- chunked files: index first, then the chunks nearest the camera, decoded in parallel ------------------

// One worker per CPU (at most 4), each decoding whole chunks; the first also has one helper thread, so that
// the first chunk, decoded while the others wait, has the CPUs to itself. chunkWorkers(1): the first alone
// (the others would only share the link and the CPUs with the first chunk).
let chunkPool = [];
function chunkWorkers(upTo = Infinity) {
  const cpus = navigator.hardwareConcurrency || 1;
  const count = Math.max(1, Math.min(4, cpus, upTo));
  while (chunkPool.length < count) {
    const helpers = chunkPool.length === 0 && cpus > 1 ? 1 : 0;
    chunkPool.push(new Worker(new URL(`./worker.js?helpers=${helpers}`, import.meta.url), { type: "module" }));
  }
  return chunkPool;
}

/** Decode a chunk in worker w (parallel: with the worker's helpers, if it has any). */
function decodeChunkIn(w, bytes, label, chunk, preview = false, parallel = false) {
  return new Promise((resolve, reject) => {
    w.onmessage = (e) => {
      const m = e.data;
      if (m.type === "done") resolve(m);
      else if (m.type === "error") reject(new Error(m.message));
    };
    w.onerror = (e) => reject(new Error(e.message || "worker failed"));
    w.postMessage({ bytes: bytes.buffer, label, chunk, preview, parallel }, [bytes.buffer]);
  });
}

/** Distance from eye to the centre of chunk i's box. */
function chunkDistance(index, i, eye) {
  const b = index.chunks[i].bbox;
  return Math.hypot(...[0, 1, 2].map((k) => 0.5 * (b[k] + b[k + 3]) - eye[k]));
}

/** The chunks to show from eye: nearest first, as many as fit in the splat budget (at least one). */
function chunksWithinBudget(index, eye) {
  const distance = index.chunks.map((c, i) => chunkDistance(index, i, eye));
  const nearest = index.chunks.map((c, i) => i).sort((a, b) => distance[a] - distance[b]);
  let kept = 0;
  const plan = nearest.filter((i, k) => {
    const fits = budget === 0 || k === 0 || kept + index.chunks[i].n <= budget;
    if (fits) kept += index.chunks[i].n;
    return fits;
  });
  return { plan, kept };
}

// The chunked file on screen, if any: stream.replan(eye) after the camera moves, stream.stop() when another file opens.
let stream = null;
let replanTimer = null;
/** Plan the chunks again for the camera where it is now, once it has rested for delay ms. */
function replanSoon(delay = 250) {
  if (!stream) return;
  clearTimeout(replanTimer);
  replanTimer = setTimeout(() => { if (stream) stream.replan(camera.position.toArray()); }, delay);
}

/**
 * Show a chunked file: fetchRange(start, end) gives bytes [start, end) of it (Range requests, or slices of a
 * file in memory: ranged false); total is its size. The plan is the chunks nearest the camera that fit in the
 * splat budget. Its chunks are fetched one after another, nearest first, decoded as they arrive (up to one per
 * worker at a time), and each is drawn as soon as it is decoded; the first one is drawn first without its SH
 * bands (a preview decode, on all the CPUs: the other chunks wait for it), so that something is on screen
 * sooner. When the camera moves, the plan is made again from where it is: chunks that came within the budget
 * are fetched (once: a file's fetched bytes are kept) and decoded, and to make room for them the chunks that
 * left it are dropped, farthest first, so that no more than the budget is ever shown.
 */
async function openChunked(fetchRange, total, label, t0, ranged) {
  const since = () => (performance.now() - t0) / 1000;  // seconds from the start of loading
  resetState();
  const generation = loadGeneration;
  const live = () => generation === loadGeneration;
  $("progress").hidden = false;
  setStatus(`${label}: reading the chunk index…`);
  try {
    const head0 = await fetchRange(0, Math.min(total, 65536));
    const [, indexEnd] = indexRange(head0.subarray(0, HEADER_BYTES), label);
    const head = indexEnd <= head0.length ? head0 : await fetchRange(0, indexEnd);
    const index = await parseChunkIndex(head, total, label);
    if (!live()) return;
    const lo = [0, 1, 2].map((a) => Math.min(...index.chunks.map((c) => c.bbox[a])));
    const hi = [0, 1, 2].map((a) => Math.max(...index.chunks.map((c) => c.bbox[a + 3])));
    homeView = params.get("camera") ? parseCamera(params.get("camera")) : viewOfBox(lo, hi);
    applyView(homeView);
    let { plan, kept } = chunksWithinBudget(index, homeView.position);
    const first = plan[0];
    let firstSettled = false;  // the first chunk (or its preview) is on screen, or failed: the others may decode
    const fetched = new Map();  // chunk → { bytes, at }: kept, so that a chunk wanted again is not fetched again
    const shown = new Map();  // chunk → its SplatMesh
    const decoding = new Set();
    const failed = new Set();
    const errors = [];
    const stats = {
      label, fileBytes: total, n: 0, shDegree: index.shDegree, formatVersion: 5, chunks: index.chunks.length, chunksShown: 0,
      chunkErrors: 0, firstChunkSeconds: null, halfSeconds: null, allChunksSeconds: null, bitsPerGaussian: (8 * total) / index.n,
      rangeRequests: ranged, indexSeconds: since(), firstContentSeconds: null, timeline: [],
      budget, chunksInBudget: plan.length, gaussiansInBudget: kept, shownChunks: [], fetches: 0, dropped: 0, replans: 0,
      planSeconds: since(), planShownSeconds: null,
    };
    window.__splatpressStats = stats;
    const update = () => showStats([
      ["file", label], ["Gaussians", `${stats.n.toLocaleString("en")} of ${index.n.toLocaleString("en")}`],
      ["chunks", `${stats.chunksShown} of ${stats.chunks} shown` + (stats.chunkErrors ? `, ${stats.chunkErrors} damaged` : "")
        + (stats.chunksInBudget < stats.chunks ? ` (${stats.chunksInBudget} within the splat budget of ${budget.toLocaleString("en")})` : "")],
      ["file size", `${fmtBytes(total)} (${total.toLocaleString("en")} B)`], ["bits / Gaussian", stats.bitsPerGaussian.toFixed(2)],
      ["SH degree", stats.shDegree], ["format", "v5 (chunked)"],
      ["first content", stats.firstContentSeconds === null ? "…" : `${stats.firstContentSeconds.toFixed(3)} s`],
      ["first chunk", stats.firstChunkSeconds === null ? "…" : `${stats.firstChunkSeconds.toFixed(3)} s`],
      ["half the Gaussians", stats.halfSeconds === null ? "…" : `${stats.halfSeconds.toFixed(3)} s`],
      ["all chunks", stats.allChunksSeconds === null ? "…" : `${stats.allChunksSeconds.toFixed(3)} s`],
    ]);
    const report = () => {
      const capped = plan.length < index.chunks.length ? " (the splat budget: ?budget=N to change)" : "";
      $("progress").value = plan.filter((i) => shown.has(i) || failed.has(i)).length / plan.length;
      setStatus(`${label}: ${stats.chunksShown} of ${stats.chunks} chunks shown${capped}`
        + (errors.length ? `; ${errors.length} damaged: ${errors[errors.length - 1]}` : ""));
      update();
    };
    // the loops below wait for a change: a chunk fetched, decoded or failed, a new plan, or another file
    let waiters = [];
    const changed = () => new Promise((resolve) => waiters.push(resolve));
    const notify = () => { const w = waiters; waiters = []; w.forEach((resolve) => resolve()); };
    const fail = (i, err) => {
      failed.add(i);
      stats.chunkErrors++;
      errors.push(err.message);
      window.__splatpressError = errors.join("; ");
      console.error(err);
    };
    // done when every chunk of the plan is shown (or damaged); a new plan may start it again
    const settle = () => {
      if (!live()) return;
      if (plan.some((i) => !shown.has(i) && !failed.has(i))) {
        streaming = true;
        window.__splatpressComplete = false;
        $("progress").hidden = false;
        return;
      }
      if (stats.allChunksSeconds === null) stats.allChunksSeconds = since();
      if (stats.planShownSeconds === null) stats.planShownSeconds = since();
      streaming = false;
      window.__splatpressComplete = true;
      $("progress").hidden = true;
    };
    const shownGaussians = () => [...shown.keys()].reduce((s, i) => s + index.chunks[i].n, 0);
    const recount = () => {
      stats.shownChunks = [...shown.keys()];
      stats.chunksShown = shown.size;
      stats.n = shownGaussians();
    };
    // before a chunk of n Gaussians is shown: drop the shown chunks outside the plan, farthest first, while the
    // budget would be exceeded
    const makeRoom = (n) => {
      if (budget === 0) return;
      const eye = camera.position.toArray();
      const outside = [...shown.keys()].filter((i) => !plan.includes(i))
        .sort((a, b) => chunkDistance(index, b, eye) - chunkDistance(index, a, eye));
      let total = shownGaussians();
      for (const i of outside) {
        if (total + n <= budget) break;
        removeMesh(shown.get(i));
        shown.delete(i);
        total -= index.chunks[i].n;
        stats.dropped++;
      }
    };
    // One fetch at a time, in the plan's order: the link's whole rate goes to the chunk needed next (parallel
    // fetches would share it and delay the first chunk).
    const fetchLoop = async () => {
      while (live()) {
        const i = plan.find((c) => !fetched.has(c) && !failed.has(c));
        if (i === undefined) { await changed(); continue; }
        const [s, e] = chunkRange(index, i);
        try {
          const bytes = await fetchRange(s, e);
          if (!live()) return;
          fetched.set(i, { bytes, at: since() });
          stats.fetches++;
        } catch (err) {
          if (!live()) return;
          fail(i, err);
          report();
          settle();
        }
        notify();
      }
    };
    const decodeLoop = async (w) => {
      while (live()) {
        const i = plan.find((c) => fetched.has(c) && !shown.has(c) && !decoding.has(c) && !failed.has(c));
        if (i === undefined || (!firstSettled && i !== first)) { await changed(); continue; }
        decoding.add(i);
        const isFirst = i === first && !firstSettled;
        const step = { chunk: i, arrived: fetched.get(i).at, started: since() };
        const chunk = { i, entry: index.chunks[i], shDegree: index.shDegree };
        let previewMesh = null;
        try {
          if (isFirst && index.shDegree > 0) {
            // the first chunk is drawn first without its SH bands (decoded in under half the time), then whole
            const p = await decodeChunkIn(w, fetched.get(i).bytes.slice(), label, chunk, true, true);
            if (!live()) return;
            previewMesh = await addMesh(p.splats);
            step.previewShown = since();
            step.previewDecodeSeconds = p.seconds;
            step.previewStages = p.stages;
            step.previewHelpers = p.helpers;
            stats.firstContentSeconds = step.previewShown;
            firstSettled = true;
            notify();
          }
          const m = await decodeChunkIn(w, fetched.get(i).bytes.slice(), label, chunk, false, isFirst && !previewMesh);
          if (!live()) return;
          step.decoded = since();
          step.decodeSeconds = m.seconds;
          step.stages = m.stages;  // seconds per decoder stage, in the worker
          if (plan.includes(i)) {
            makeRoom(m.splats.n);
            shown.set(i, await addMesh(m.splats));
            if (!live()) return;
            step.shown = since();
            recount();
            if (stats.firstContentSeconds === null) stats.firstContentSeconds = step.shown;
            if (stats.firstChunkSeconds === null) { stats.firstChunkSeconds = since(); loadedAt = performance.now(); }
            if (stats.halfSeconds === null && 2 * stats.n >= kept) stats.halfSeconds = since();
          } else {
            step.outsidePlan = true;  // the camera moved away while it was decoded: not shown
          }
          if (previewMesh) { removeMesh(previewMesh); previewMesh = null; }
          stats.timeline.push(step);
        } catch (err) {
          if (!live()) return;
          if (previewMesh) removeMesh(previewMesh);  // a chunk whose full decode fails is not left half shown
          fail(i, err);
        } finally {
          decoding.delete(i);
          if (isFirst) firstSettled = true;  // shown, failed or abandoned: the others go on
          notify();
        }
        report();
        settle();
      }
    };
    stream = {
      replan(eye) {
        if (!live()) return;
        ({ plan, kept } = chunksWithinBudget(index, eye));
        if (!plan.includes(first)) firstSettled = true;
        stats.chunksInBudget = plan.length;
        stats.gaussiansInBudget = kept;
        stats.replans++;
        stats.planSeconds = since();
        stats.planShownSeconds = null;
        report();
        settle();
        notify();
      },
      stop: notify,
    };
    report();
    settle();
    // the other workers start once the first chunk is on screen (until then they would have nothing to do)
    const others = async () => {
      while (live() && !firstSettled) await changed();
      if (live()) await Promise.all(chunkWorkers().slice(1).map(decodeLoop));
    };
    const loops = [fetchLoop(), decodeLoop(chunkWorkers(1)[0]), others()];
    Promise.all(loops).catch(reportError);
  } catch (err) {
    if (live()) {
      reportError(err);
      streaming = false;
      $("progress").hidden = true;
    }
  }
}

let loadGeneration = 0;

async function openUrl(url) {
  setStatus(`fetching ${url}…`);
  const label = url.split("/").pop() || url;
  const t0 = performance.now();
  // a URL may be a chunked file: its first decode worker loads its code while the index and the first chunk arrive
  chunkWorkers(1);
  try {
    // ask for the head only: a server that answers with 206 streams a chunked file chunk by chunk
    const res = await fetch(url, { headers: { Range: "bytes=0-65535" } });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    const range = res.status === 206 ? /\/(\d+)$/.exec(res.headers.get("Content-Range") || "") : null;
    if (range) {
      const head = new Uint8Array(await res.arrayBuffer());
      const total = Number(range[1]);
      if (isChunked(head)) {
        const fetchRange = async (start, end) => {
          if (end <= head.length) return head.slice(start, end);
          const r = await fetch(url, { headers: { Range: `bytes=${start}-${end - 1}` } });
          if (r.status !== 206) throw new Error(`${url}: HTTP ${r.status} to a Range request for bytes ${start}-${end - 1}`);
          return new Uint8Array(await r.arrayBuffer());
        };
        return await openChunked(fetchRange, total, label, t0, true);
      }
      const whole = await fetch(url);  // a plain bundle decodes whole
      if (!whole.ok) throw new Error(`${url}: HTTP ${whole.status}`);
      return await openBytes(new Uint8Array(await whole.arrayBuffer()), label);
    }
    await openBytes(new Uint8Array(await res.arrayBuffer()), label);
  } catch (err) {
    reportError(err);
  }
}

async function openFile(file) {
  await openBytes(new Uint8Array(await file.arrayBuffer()), file.name);
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) openFile(e.target.files[0]); });
$("reset").addEventListener("click", () => { if (homeView) applyView(homeView); });
window.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("drag"); });
window.addEventListener("dragleave", () => document.body.classList.remove("drag"));
window.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("drag");
  const file = e.dataTransfer.files[0];
  if (file) openFile(file);
});

if (params.get("url")) openUrl(params.get("url"));
else setStatus("drop a .bundle here, or choose one with the file picker");
