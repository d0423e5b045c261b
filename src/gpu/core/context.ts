// The GPU context: one device plus the caches every op shares (pipelines, uniform buffers,
// bind groups) and the command encoder that ops record into. Ops never submit on their own:
// they append dispatches to the current compute pass, and the caller submits once per step
// (`flush`) or waits for results (`sync`, `read*` in tensor.ts).

import { acquireDevice, type AcquireOptions, type GpuInfo } from './acquire';
import { GpuError } from './errors';

export interface KernelSource {
  /** WGSL source (imported from shaders/*.wgsl). */
  code: string;
  entry?: string;
  /** Values for WGSL `override` constants (tile sizes, feature switches). */
  constants?: Record<string, number>;
}

/** A buffer bound to one binding slot; a plain GPUBuffer binds whole. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

function isWholeBuffer(b: Binding): b is GPUBuffer {
  return !('buffer' in b);
}

/** One command of a captured program (Gpu.capture): what `dispatch`, `copyBuffer` and `flush` did. */
export type Command =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; group: GPUBindGroup; x: number; y: number; z: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'flush' };

/**
 * A recorded sequence of commands with their pipelines and bind groups resolved, replayed by
 * `Gpu.replay` at the cost of the raw encoder calls only (no wrappers, checks or cache keys).
 * Valid while no buffer has been destroyed since the capture (`epoch`).
 */
export interface Program {
  readonly commands: readonly Command[];
  readonly epoch: number;
}

/** A pipeline's label: its entry point and the first comment line of its WGSL (profiles, errors). */
function kernelLabel(code: string, entry: string): string {
  const line = code.slice(0, 4000).split('\n').find((l) => l.startsWith('//')) ?? '';
  return `${entry}: ${line.replace(/^\/\/\s*/, '').slice(0, 60)}`;
}

let nextBufferId = 1;
const bufferIds = new WeakMap<GPUBuffer, number>();
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

export class Gpu {
  private pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  private pipelineCount = 0;
  private pipelineIds = new WeakMap<GPUComputePipeline, number>();
  private uniforms = new Map<string, GPUBuffer>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private passPipeline: GPUComputePipeline | null = null;
  /** Commands of the capture in progress (null when not capturing). */
  private recording: Command[] | null = null;
  /** Bumped whenever buffers are forgotten (destroyed): programs captured before are stale. */
  private epoch = 0;
  /** Bytes held by tensors created through createTensor (what the UI shows as GPU memory). */
  allocatedBytes = 0;
  /** Cache misses (bench/step.ts, bench/decode.ts report them per step / token: each costs a
   * GPU object creation on the host, far more than a cached dispatch). */
  readonly created = { uniforms: 0, bindGroups: 0 };
  /** Set when the device is lost; every later call throws it. */
  lost: GpuError | null = null;
  readonly lostHandlers = new Set<(e: GpuError) => void>();

  constructor(
    readonly device: GPUDevice,
    readonly info: GpuInfo,
  ) {
    device.lost.then((l) => {
      this.lost = new GpuError('device-lost', `GPU device lost (${l.reason}): ${l.message}`);
      for (const h of this.lostHandlers) h(this.lost);
    });
  }

  static async create(gpuApi: GPU | undefined, opts?: AcquireOptions): Promise<Gpu> {
    const { device, info } = await acquireDevice(gpuApi, opts);
    return new Gpu(device, info);
  }

  get features() {
    return this.info.features;
  }

  /**
   * Compiled pipeline for a kernel, cached by source, then entry point and constants. The
   * source string is the map key itself (the same string object on every call, so its hash is
   * computed once): building a key out of the whole source on each dispatch costed tens of µs.
   */
  pipeline(k: KernelSource): GPUComputePipeline {
    const entry = k.entry ?? 'main';
    let variants = this.pipelines.get(k.code);
    if (!variants) this.pipelines.set(k.code, (variants = new Map()));
    let key = entry;
    if (k.constants) for (const name in k.constants) key += `|${name}=${k.constants[name]}`;
    let p = variants.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: k.code });
      p = this.device.createComputePipeline({
        label: kernelLabel(k.code, entry),
        layout: 'auto',
        compute: { module, entryPoint: entry, constants: k.constants },
      });
      variants.set(key, p);
      this.pipelineIds.set(p, ++this.pipelineCount);
    }
    return p;
  }

  /**
   * A uniform buffer holding `words` (each a u32, i32 or f32 already packed in a Uint32Array),
   * cached by content: shapes repeat every layer and step, so this allocates almost never.
   */
  uniform(words: Uint32Array): GPUBuffer {
    const key = Array.from(words).join(',');
    let b = this.uniforms.get(key);
    if (!b) {
      const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
      b = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      this.created.uniforms++;
      new Uint32Array(b.getMappedRange()).set(words);
      b.unmap();
      // Values that change every step (LoRA dropout seeds, lr, bias corrections) would grow the
      // cache forever: past a cap, forget it (no destroy: recorded work may still use a buffer).
      if (this.uniforms.size >= 8192) this.uniforms.clear();
      this.uniforms.set(key, b);
    }
    return b;
  }

  private bindGroup(p: GPUComputePipeline, bindings: Binding[]): GPUBindGroup {
    const parts = bindings.map((b) =>
      isWholeBuffer(b) ? `${bufferId(b)}` : `${bufferId(b.buffer)}@${b.offset ?? 0}+${b.size ?? -1}`,
    );
    const key = `${this.pipelineIds.get(p)}|${parts.join(',')}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      g = this.device.createBindGroup({
        layout: p.getBindGroupLayout(0),
        entries: bindings.map((b, binding) => ({
          binding,
          resource: isWholeBuffer(b) ? { buffer: b } : b,
        })),
      });
      this.created.bindGroups++;
      if (this.bindGroups.size > 20000) this.bindGroups.clear();
      this.bindGroups.set(key, g);
    }
    return g;
  }

  /** Buffers created inside the innermost allocationScope (createTensor records them). */
  scope: GPUBuffer[] | null = null;

  /**
   * Run `fn`; if it throws, destroy every tensor buffer it created (a model load that fails
   * half-way must not leave gigabytes allocated). Scopes nest: on success an inner scope's
   * buffers belong to the outer one.
   */
  async allocationScope<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.scope;
    const mine: GPUBuffer[] = (this.scope = []);
    try {
      const r = await fn();
      outer?.push(...mine);
      return r;
    } catch (e) {
      if (!this.lost) {
        this.forgetBuffers(mine);
        for (const b of mine) { this.allocatedBytes -= b.size; b.destroy(); }
      }
      throw e;
    } finally {
      this.scope = outer;
    }
  }

  /** Forget cached bind groups that reference a buffer about to be destroyed. */
  forgetBuffer(b: GPUBuffer): void {
    this.forgetBuffers([b]);
  }

  /** Forget cached bind groups that reference any of these buffers (one pass over the cache). */
  forgetBuffers(buffers: Iterable<GPUBuffer>): void {
    this.epoch++;
    const ids = new Set<string>();
    for (const b of buffers) ids.add(`${bufferId(b)}`);
    for (const key of this.bindGroups.keys()) {
      const parts = key.split('|')[1].split(',');
      if (parts.some((p) => ids.has(p.split('@')[0]))) this.bindGroups.delete(key);
    }
  }

  /** Record one dispatch into the current compute pass. Bindings are in @binding order. */
  dispatch(k: KernelSource, bindings: Binding[], workgroups: [number, number?, number?]): void {
    if (this.lost) throw this.lost;
    const maxWg = this.info.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    const [x, y = 1, z = 1] = workgroups;
    if (x > maxWg || y > maxWg || z > maxWg)
      throw new GpuError('limit', `dispatch ${x}×${y}×${z} exceeds ${maxWg} workgroups per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    const p = this.pipeline(k);
    const g = this.bindGroup(p, bindings);
    this.recording?.push({ kind: 'dispatch', pipeline: p, group: g, x, y, z });
    this.encodeDispatch(p, g, x, y, z);
  }

  private encodeDispatch(p: GPUComputePipeline, g: GPUBindGroup, x: number, y: number, z: number): void {
    if (!this.pass) {
      // Reuse the open encoder: it may hold copies recorded through commandEncoder().
      if (!this.encoder) this.encoder = this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
      this.passPipeline = null;
    }
    if (this.passPipeline !== p) this.pass.setPipeline((this.passPipeline = p));
    this.pass.setBindGroup(0, g);
    this.pass.dispatchWorkgroups(x, y, z);
  }

  /** Record a buffer-to-buffer copy (in order with the dispatches; captured like them). */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (this.lost) throw this.lost;
    this.recording?.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  }

  /**
   * Run `fn` (which records dispatches, copies and flushes as usual) and also keep its commands
   * as a Program that `replay` can submit again. Anything else that touches the encoder inside
   * `fn` (a readback) is refused: it could not be replayed.
   */
  capture(fn: () => void): Program {
    if (this.recording) throw new GpuError('validation', 'Gpu.capture: captures do not nest');
    const commands: Command[] = (this.recording = []);
    const epoch = this.epoch;
    try {
      fn();
    } finally {
      this.recording = null;
    }
    return { commands, epoch };
  }

  get capturing(): boolean {
    return this.recording !== null;
  }

  /** Whether a program still refers only to live buffers. */
  isCurrent(prog: Program): boolean {
    return prog.epoch === this.epoch;
  }

  /**
   * Record a captured program's commands again (same buffers, their current contents), with its
   * flushes: Dawn turns a command buffer into native commands at submit (~10 µs per dispatch on
   * Vulkan), so submitting per layer lets the GPU run layer l while the host prepares layer l+1.
   * `flushes`: false = one submit (bench: GPU time of the whole program); n = every n-th flush.
   */
  replay(prog: Program, opts: { flushes?: boolean | number } = {}): void {
    if (this.lost) throw this.lost;
    if (!this.isCurrent(prog)) throw new GpuError('validation', 'Gpu.replay: buffers were destroyed since this program was captured');
    const every = opts.flushes === false ? Infinity : typeof opts.flushes === 'number' ? Math.max(1, Math.floor(opts.flushes)) : 1;
    let flushes = 0;
    for (const c of prog.commands) {
      if (c.kind === 'dispatch') this.encodeDispatch(c.pipeline, c.group, c.x, c.y, c.z);
      else if (c.kind === 'copy') this.openEncoder().copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
      else if (++flushes % every === 0) this.flush();
    }
  }

  /** The current encoder with the compute pass closed (for copies between dispatches). */
  commandEncoder(): GPUCommandEncoder {
    if (this.lost) throw this.lost;
    if (this.recording) throw new GpuError('validation', 'Gpu.commandEncoder: not allowed inside Gpu.capture (use copyBuffer; read back after the capture)');
    return this.openEncoder();
  }

  private openEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Submit everything recorded so far. */
  flush(): void {
    this.recording?.push({ kind: 'flush' });
    if (!this.encoder) return;
    const enc = this.openEncoder();
    this.encoder = null;
    this.device.queue.submit([enc.finish()]);
  }

  /** Submit and wait until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    if (this.lost) throw this.lost;
  }

  /** Run `fn` inside validation + out-of-memory error scopes and turn errors into GpuError. */
  async guarded<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    let result: T;
    try {
      result = await fn();
      this.flush();
    } finally {
      const validation = await this.device.popErrorScope();
      const oom = await this.device.popErrorScope();
      if (oom) throw new GpuError('out-of-memory', `${what}: out of GPU memory: ${oom.message}`);
      if (validation) throw new GpuError('validation', `${what}: ${validation.message}`);
    }
    if (this.lost) throw this.lost;
    return result;
  }

  destroy(): void {
    this.device.destroy();
  }
}
