// The one API the UI talks to. Runs in a Web Worker (workers/engine.worker.ts exposes it with
// comlink) and headless in Node (CLI, bench). It owns the GPU device and all model, LoRA and
// optimizer state; only scalars, tokens, reports and files cross this boundary. Each area
// lives in its own module; the methods here only wire them to one device.

import { Gpu } from './gpu/core/context';
import type { AcquireOptions, GpuInfo } from './gpu/core/acquire';
import { GpuError } from './gpu/core/errors';
import { releaseTensors } from './gpu/core/release';
import { runSelftest, type SelftestResult } from './gpu/selftest';
import { loadLlama3Tokenizer, prepareDataset, type DataReport, type PrepareOptions, type PreparedDataset, type Tokenizer, type ChatMessage } from './data';
import { demoModelSource, folderModelSource, type ModelSource } from './model/source';
import { blobSource, type ByteSource } from './model/safetensors';
import { loadWeights, type LoadProgress, type ModelWeights } from './model/weights';
import type { Activations } from './model/activations';
import { checkPlan, planMemory } from './model/plan';
import { readLoraWeights, setLoraWeights } from './model/lora';
import { parseTargets } from './model/modules';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './train/config';
import { START, train, type TrainControl, type TrainEvent } from './train/loop';
import { allocTraining, trainData, type TrainState } from './train/session';
import { loadLatestValid, restoreLora, type CheckpointStore, type LoopPosition } from './train/checkpoint';
import { allocKvCache, generate, type KvCache } from './chat/generate';
import type { SamplingOptions } from './chat/sampling';
import { exportPeftZip, importPeft, type LoraHostWeights } from './export/peft';
import { loraToGguf } from './export/gguf';
import { evaluateSplit, type EvalOptions, type EvalResult } from './eval/run';
import type { RunLog } from './store/runlog';
import { clearHubDownload, downloadHubModel, type HubDownloadProgress } from './model/hubSource';
import { modelCache, modelDirName, type CachedModel, type DirectoryHandleLike, type ModelCache } from './store/modelCache';
import { openCachedModel, saveQuantizedModel, type CacheProgress } from './store/quantCache';

export type { GpuInfo, SelftestResult, TrainEvent, TrainConfig, DataReport, LoadProgress, EvalResult };
export type { CachedModel, HubDownloadProgress, CacheProgress };

/** Progress of loadHubModel / loadCachedModel / cacheLoadedModel, one event type per phase. */
export type ModelLoadEvent =
  | ({ phase: 'download' } & HubDownloadProgress) // file, bytes, total, fileIndex, fileCount, bytesPerSecond
  | ({ phase: 'load' } & LoadProgress) // tensors uploaded to the GPU
  | ({ phase: 'cache' } & CacheProgress); // files written to the OPFS cache

export interface HubLoadOptions { token?: string; revision?: string; quant?: 'nf4' | 'w16'; endpoint?: string }

const DOWNLOAD_DIR = 'qlora-downloads';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

export interface EngineError { kind: string; message: string }

/** Errors cross comlink as plain objects with a kind; the UI shows `message`. */
export function toEngineError(e: unknown): EngineError {
  if (e instanceof GpuError) return { kind: e.kind, message: e.message };
  return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
}

/** Takes a run's cross-tab lock (Web Locks in the browser): owned = this tab may train it. */
export type RunLocker = (runId: string) => Promise<{ owned: boolean; release(): void }>;

export type TrainEndReason = Extract<TrainEvent, { type: 'done' }>['reason'];
/** Where a train() call stopped and why (finished, paused, cancelled, early-stopped). */
export type TrainResult = LoopPosition & { endReason: TrainEndReason };

/** Sent to the UI when training survived a GPU device loss. */
export interface RecoveryEvent { type: 'recovered'; reason: string; resumedAtStep: number }

export interface ModelSummary {
  name: string;
  layers: number; hidden: number; vocab: number; heads: number; kvHeads: number;
  quant: 'nf4' | 'w16';
  gpuBytes: number;
}

export interface DataPreview { report: DataReport; sample: { row: number; topic: string; user: string; assistant: string }[] }

export interface ChatOptions extends SamplingOptions { maxNewTokens: number; seed: number; useAdapter: boolean }

export class Engine {
  private model: { source: ModelSource; weights: ModelWeights; quant: 'nf4' | 'w16' } | null = null;
  private tokenizer: Tokenizer | null = null;
  private dataset: PreparedDataset | null = null;
  private training: (TrainState & { cfg: TrainConfig; position: LoopPosition; runId: string }) | null = null;
  private control: TrainControl = { pause: false, cancel: false };
  private chatControl = { cancel: false };
  private kv: KvCache | null = null;

  private inferenceActs: Activations | null = null;

  private constructor(
    private device: Gpu,
    private readonly gpuApi: GPU | undefined,
    private readonly acquire: AcquireOptions,
    private store: CheckpointStore | null,
    private log: RunLog | null,
    private lockRun: RunLocker | null,
  ) {}

  /** In the browser the worker passes IndexedDB-backed checkpoints and run log; the CLI none. */
  static async create(gpuApi: GPU | undefined, opts: AcquireOptions & { store?: CheckpointStore; log?: RunLog; lockRun?: RunLocker } = {}): Promise<Engine> {
    return new Engine(await Gpu.create(gpuApi, opts), gpuApi, opts, opts.store ?? null, opts.log ?? null, opts.lockRun ?? null);
  }

  private runLocks = new Map<string, { release(): void }>();

  /** One tab trains a run: a second one (another Web Lock holder) is refused with an explanation. */
  private async holdRunLock(runId: string): Promise<void> {
    if (!this.lockRun || this.runLocks.has(runId)) return;
    const lock = await this.lockRun(runId);
    if (!lock.owned) throw new Error(`run ${runId} is open for training in another tab: it is read-only here (close the other tab, or view it in Runs)`);
    this.runLocks.set(runId, lock);
  }

  /** The current device (replaced after a device loss). */
  get gpu(): Gpu { return this.device; }

  gpuInfo(): GpuInfo { return this.gpu.info; }

  selftest(): Promise<SelftestResult> { return runSelftest(this.gpu); }

  gpuMemoryBytes(): number { return this.gpu.allocatedBytes; }

  // ---- model -------------------------------------------------------------------------------------

  loadDemoModel(onProgress?: (p: LoadProgress) => void): Promise<ModelSummary> {
    return demoModelSource(0).then((s) => this.loadModel(s, 'w16', onProgress));
  }

  /** An HF folder picked or dropped in the browser: config.json + safetensors (+ index). */
  async loadModelFiles(files: File[], quant: 'nf4' | 'w16', onProgress?: (p: LoadProgress) => void): Promise<ModelSummary> {
    const map = new Map<string, ByteSource>(files.map((f) => [f.name, blobSource(f, f.name)]));
    const tokFile = files.find((f) => f.name === 'tokenizer.json');
    let tokenizer: Tokenizer | undefined;
    if (tokFile) {
      try { tokenizer = await loadLlama3Tokenizer({ tokenizerJSON: JSON.parse(await tokFile.text()) }); }
      catch (e) { throw new Error(`tokenizer.json: cannot be loaded as a Llama 3 tokenizer (${e instanceof Error ? e.message : String(e)})`); }
    }
    const source = await folderModelSource('local folder', map);
    this.sourceFiles.set(source, map);
    return this.loadModel(source, quant, onProgress, tokenizer);
  }

  /** Load any model source (demo, folder, Node files) as NF4 or 16-bit. */
  async loadModel(source: ModelSource, quant: 'nf4' | 'w16', onProgress?: (p: LoadProgress) => void, tokenizer?: Tokenizer): Promise<ModelSummary> {
    const tok = tokenizer ?? this.tokenizer ?? (await loadLlama3Tokenizer());
    if (tok.vocabSize > source.config.vocabSize)
      throw new Error(`tokenizer.json does not match the model: it has ${tok.vocabSize} token ids but config.json's vocab_size is ${source.config.vocabSize}`);
    this.tokenizer = tok;
    this.unloadModel();
    const before = this.gpu.allocatedBytes;
    const weights = await this.withRecovery('loading the model', true, () =>
      this.gpu.guarded('loading the model', () => this.gpu.allocationScope(() => loadWeights(this.gpu, source.config, source.reader, { quant, onProgress }))));
    this.model = { source, weights, quant };
    const c = source.config;
    return { name: source.name, layers: c.numHiddenLayers, hidden: c.hiddenSize, vocab: c.vocabSize, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, quant, gpuBytes: this.gpu.allocatedBytes - before };
  }

  private unloadModel(): void {
    // Destroy the old model's buffers now (GC would keep gigabytes alive for a while).
    if (!this.gpu.lost) releaseTensors(this.gpu, [this.model?.weights, this.training, this.kv, this.inferenceActs]);
    this.model = null; this.training = null; this.kv = null; this.inferenceActs = null;
  }

  // ---- Hub downloads and the OPFS model cache ----------------------------------------------------

  /** Files of a loaded source (tokenizer etc.) to copy into the cache. */
  private sourceFiles = new WeakMap<ModelSource, Map<string, ByteSource>>();
  private storageRoot: DirectoryHandleLike | null = null;

  /** Use this directory instead of the origin private file system (tests, Node). */
  useStorageRoot(root: DirectoryHandleLike): void { this.storageRoot = root; }

  private async opfsRoot(): Promise<DirectoryHandleLike> {
    if (this.storageRoot) return this.storageRoot;
    const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<unknown> } } }).navigator?.storage;
    if (!storage?.getDirectory)
      throw new Error('OPFS is not available here: Hub downloads and the model cache need the origin private file system of a current browser in a secure context (in Node, load a local folder instead)');
    try {
      this.storageRoot = (await storage.getDirectory()) as DirectoryHandleLike;
    } catch (e) {
      throw new Error(`OPFS is not available here: the origin private file system could not be opened (${e instanceof Error ? e.message : String(e)}); private windows may not allow it`);
    }
    return this.storageRoot;
  }

  private storageApi() {
    return (globalThis as { navigator?: { storage?: { estimate?: () => Promise<{ usage?: number; quota?: number }> } } }).navigator?.storage;
  }

  private async cache(): Promise<ModelCache> {
    return modelCache(await this.opfsRoot(), { storage: this.storageApi() });
  }

  private async fileTokenizer(files: Map<string, ByteSource>): Promise<Tokenizer | undefined> {
    const f = files.get('tokenizer.json');
    if (!f) return undefined;
    try { return await loadLlama3Tokenizer({ tokenizerJSON: JSON.parse(new TextDecoder().decode(await f.read(0, f.size))) }); }
    catch (e) { throw new Error(`tokenizer.json: cannot be loaded as a Llama 3 tokenizer (${e instanceof Error ? e.message : String(e)})`); }
  }

  /**
   * Download a Hub model into OPFS (resuming partial files, skipping finished ones) and load it.
   * The token goes to the Hub requests only; the engine neither stores nor logs it.
   */
  async loadHubModel(repo: string, o: HubLoadOptions = {}, onProgress?: (e: ModelLoadEvent) => void): Promise<ModelSummary> {
    const revision = o.revision ?? 'main';
    const root = await this.opfsRoot();
    const dir = await (await root.getDirectoryHandle(DOWNLOAD_DIR, { create: true })).getDirectoryHandle(modelDirName(`${repo}@${revision}`), { create: true });
    const source = await downloadHubModel(repo, dir, { token: o.token, revision, endpoint: o.endpoint, onProgress: (p) => onProgress?.({ phase: 'download', ...p }) });
    this.sourceFiles.set(source, source.files);
    return this.loadModel(source, o.quant ?? 'nf4', (p) => onProgress?.({ phase: 'load', ...p }), await this.fileTokenizer(source.files));
  }

  /** Remove a Hub download from OPFS (e.g. once the model is cached quantized); whether one existed. */
  async deleteHubDownload(repo: string, revision = 'main'): Promise<boolean> {
    const parent = await (await this.opfsRoot()).getDirectoryHandle(DOWNLOAD_DIR, { create: true });
    const name = modelDirName(`${repo}@${revision}`);
    try { await clearHubDownload(await parent.getDirectoryHandle(name)); } catch { return false; }
    await parent.removeEntry(name, { recursive: true });
    return true;
  }

  /** Save the loaded model (NF4 linears as bitsandbytes 4-bit, sharded) to the OPFS cache. */
  async cacheLoadedModel(modelId?: string, onProgress?: (e: ModelLoadEvent) => void): Promise<CachedModel> {
    const m = this.requireModel();
    const files = this.sourceFiles.get(m.source);
    const extraFiles: Record<string, ByteSource> = {};
    for (const n of TOKENIZER_FILES) { const f = files?.get(n); if (f) extraFiles[n] = f; }
    const cache = await this.cache();
    const id = modelId ?? m.source.name;
    const saved = await saveQuantizedModel(this.gpu, cache, id, m.weights, {
      extraFiles, meta: { source: m.source.name }, onProgress: (p) => onProgress?.({ phase: 'cache', ...p }), storage: this.storageApi(),
    });
    // From now on a device-loss reload reads the cache, so the Hub download may be deleted.
    if (this.model === m) {
      const cached = await openCachedModel(cache, id);
      const source: ModelSource = { ...m.source, reader: cached.reader };
      this.sourceFiles.set(source, cached.files);
      this.model = { ...m, source };
    }
    return saved;
  }

  async listCachedModels(): Promise<CachedModel[]> { return (await this.cache()).list(); }

  /** Whether something was deleted. */
  async deleteCachedModel(modelId: string): Promise<boolean> { return (await this.cache()).delete(modelId); }

  /** Load a model from the OPFS cache (bnb 4-bit linears uploaded as stored: no re-quantization). */
  async loadCachedModel(modelId: string, onProgress?: (e: ModelLoadEvent) => void): Promise<ModelSummary> {
    const source = await openCachedModel(await this.cache(), modelId);
    this.sourceFiles.set(source, source.files);
    const quant = source.cached.meta?.quant === 'w16' ? 'w16' : 'nf4';
    return this.loadModel(source, quant, (p) => onProgress?.({ phase: 'load', ...p }), await this.fileTokenizer(source.files));
  }

  /** The memory plan for the loaded model at a training setting (one size table, bytes per part). */
  memoryPlan(cfg: TrainConfigInput = {}) {
    const c = resolveTrainConfig(cfg);
    return planMemory(this.requireModel().source.config, { seq: c.seqLen, batch: c.batchSize, r: c.r, targets: c.targets, recompute: c.recompute, doubleQuant: true, lmHead: 'bf16' });
  }

  /**
   * Refuse, before allocating, a setting whose buffers exceed the adapter's limits or the
   * memory budget (WebGPU cannot report free memory: the budget is the user's, e.g. 11 GiB
   * for a 12 GB card), with the plan's numbers and what to change.
   */
  private checkMemory(cfg: TrainConfig): void {
    const limits = this.gpu.info.limits;
    const problem = checkPlan(this.memoryPlan(cfg), { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize }, this.memoryBudgetBytes);
    if (problem) throw new GpuError('out-of-memory', problem);
  }

  /** The memory budget training must fit in (bytes); Infinity = only the adapter's limits. */
  memoryBudgetBytes = Infinity;

  setMemoryBudget(bytes: number): void { this.memoryBudgetBytes = bytes > 0 ? bytes : Infinity; }

  // ---- data --------------------------------------------------------------------------------------

  async prepareData(csv: Uint8Array | string, opts: PrepareOptions = {}, onProgress?: (done: number, total: number) => void): Promise<DataPreview> {
    this.tokenizer ??= await loadLlama3Tokenizer();
    this.dataset = prepareDataset(csv, this.tokenizer, { packTokens: 512, ...opts, onProgress: onProgress ?? opts.onProgress });
    const sample = this.dataset.examples.slice(0, 20).map((e) => ({
      row: e.row, topic: e.topic,
      user: e.messages.find((m) => m.role === 'user')?.content ?? '',
      assistant: e.messages.find((m) => m.role === 'assistant')?.content ?? '',
    }));
    return { report: this.dataset.report, sample };
  }

  // ---- training ----------------------------------------------------------------------------------

  /**
   * Start a new run (or continue the current one after a pause) until done, paused or
   * cancelled. If the GPU device is lost mid-run (driver reset, out of memory, tab in the
   * background too long), a new device is acquired, the model reloaded and training resumes
   * from the newest valid checkpoint (or from the start if none was written yet).
   */
  async train(cfgPartial: TrainConfigInput, onEvent: (e: TrainEvent | RecoveryEvent) => void, runId = `run-${Date.now()}`): Promise<TrainResult> {
    const m = this.requireModel();
    if (!this.dataset) throw new Error('prepare a dataset first (Data section)');
    if (!this.training || this.training.runId !== runId) {
      const cfg = resolveTrainConfig(cfgPartial);
      this.checkMemory(cfg);
      this.training = { ...allocTraining(this.gpu, m.weights, cfg), cfg, position: START, runId };
    }
    this.control = { pause: false, cancel: false };
    await this.holdRunLock(runId);
    await this.log?.startRun(runId, m.source.name, this.training.cfg, this.dataset.report);
    // The end reason is returned with the result: the UI's event callback runs on another
    // MessagePort than the call's reply, so a 'done' event may arrive after train() resolves.
    let endReason: TrainEndReason = 'finished';
    // The run log's writes (metrics, the final status) run one after another and are awaited
    // before train() returns: the UI reads the run's status from IndexedDB once it sees the end.
    let logged: Promise<unknown> = Promise.resolve();
    const emit = (e: TrainEvent) => {
      if (e.type === 'done') endReason = e.reason;
      onEvent(e);
      logged = logged.then(() => this.log?.event(runId, e)).catch((err) => console.warn(`run log: ${err instanceof Error ? err.message : err}`));
    };
    for (let recoveries = 0; ; recoveries++) {
      const t = this.training!;
      try {
        t.position = await train({ gpu: this.gpu, weights: this.model!.weights, lora: t.lora, acts: t.acts, opt: t.opt, store: this.store, runId },
          t.cfg, trainData(this.dataset), this.control, emit, t.position);
        await logged;
        return { ...t.position, endReason };
      } catch (e) {
        const lost = await this.deviceWasLost();
        if (!lost || recoveries >= 3) {
          await this.log?.failed(runId, e instanceof Error ? e.message : String(e));
          throw lost ? new GpuError('device-lost', `the GPU device was lost ${recoveries + 1} times; giving up: ${lost}`) : e;
        }
        await this.recoverDevice();
        const step = await this.restoreTraining(runId, t.cfg);
        onEvent({ type: 'recovered', reason: lost, resumedAtStep: step });
      }
    }
  }

  /** The device-lost message if the device is gone (lost promises resolve asynchronously). */
  private async deviceWasLost(): Promise<string | null> {
    await new Promise((r) => setTimeout(r, 0));
    return this.gpu.lost ? this.gpu.lost.message : null;
  }

  /**
   * A new device with the same features; the loaded model is reloaded onto it and a training
   * run's LoRA state restored from its newest checkpoint.
   */
  private async recoverDevice(): Promise<void> {
    this.device = await Gpu.create(this.gpuApi, this.acquire);
    this.kv = null; this.inferenceActs = null;
    const m = this.model;
    if (m) this.model = { ...m, weights: await loadWeights(this.gpu, m.source.config, m.source.reader, { quant: m.quant }) };
    if (m && this.training) await this.restoreTraining(this.training.runId, this.training.cfg);
  }

  /**
   * Run GPU work; if the device is lost meanwhile, recover (new device, model reloaded) and
   * either run it once more (`retry`: work without side effects, e.g. loading, evaluating) or
   * report a clear device-lost error (streamed chat: the user asks again).
   */
  private async withRecovery<T>(what: string, retry: boolean, fn: () => Promise<T>): Promise<T> {
    if (await this.deviceWasLost()) await this.recoverDevice(); // lost while idle
    try {
      return await fn();
    } catch (e) {
      const lost = await this.deviceWasLost();
      if (!lost) throw e;
      await this.recoverDevice();
      if (retry) return fn();
      throw new GpuError('device-lost', `The GPU was reset during ${what} (${lost}). The engine recovered on a new device and reloaded the model: please try again.`);
    }
  }

  /** Fresh training state for `runId` from its newest valid checkpoint; returns its step. */
  private async restoreTraining(runId: string, cfg: TrainConfig): Promise<number> {
    const ck = this.store ? await loadLatestValid(this.store, runId) : null;
    const config = ck?.meta.config ?? cfg;
    this.training = { ...allocTraining(this.gpu, this.model!.weights, config), cfg: config, position: ck?.meta.position ?? START, runId };
    if (ck) await restoreLora(this.gpu, this.training.lora, ck.file);
    return this.training.position.step;
  }

  /** Continue a run from its newest valid checkpoint (after a reload of the page). */
  async resumeFromCheckpoint(runId: string, onEvent: (e: TrainEvent | RecoveryEvent) => void): Promise<TrainResult> {
    this.requireModel();
    if (!this.store) throw new Error('no checkpoint storage in this engine');
    if (!(await loadLatestValid(this.store, runId))) throw new Error(`run ${runId} has no valid checkpoint`);
    await this.restoreTraining(runId, resolveTrainConfig({}));
    return this.train(this.training!.cfg, onEvent, runId);
  }

  pauseTraining(): void { this.control.pause = true; }
  cancelTraining(): void { this.control.cancel = true; }

  // ---- chat --------------------------------------------------------------------------------------

  /** Stream an answer to a conversation; returns the full text. Adapter on/off per call. */
  chat(messages: ChatMessage[], o: ChatOptions, onToken: (text: string) => void): Promise<{ text: string; tokens: number; trimmedTurns: number }> {
    return this.withRecovery('generation', false, () => this.generateReply(messages, o, onToken));
  }

  private async generateReply(messages: ChatMessage[], o: ChatOptions, onToken: (text: string) => void) {
    const m = this.requireModel();
    const tok = this.tokenizer!;
    const acts = this.actsForInference();
    const kv = this.kvCache();
    const maxCtx = kv.maxCtx;
    // Trim the oldest turns (the system prompt stays) until prompt + answer fit the context.
    const sys = messages[0]?.role === 'system' ? [messages[0]] : [];
    let turns = messages.slice(sys.length), trimmed = 0;
    let ids = tok.encodeChat([...sys, ...turns], { addGenerationPrompt: true });
    while (ids.length + o.maxNewTokens > maxCtx && turns.length > 1) {
      turns = turns.slice(turns[0].role === 'user' && turns[1]?.role === 'assistant' ? 2 : 1);
      trimmed++;
      ids = tok.encodeChat([...sys, ...turns], { addGenerationPrompt: true });
    }
    if (ids.length + o.maxNewTokens > maxCtx) throw new Error(`the message is too long: ${ids.length} tokens + ${o.maxNewTokens} new exceed the ${maxCtx}-token context`);
    this.chatControl = { cancel: false };
    const lora = o.useAdapter ? this.training?.lora ?? null : null;
    const out: number[] = [];
    let text = '';
    for await (const id of generate(this.gpu, m.weights, lora, acts, kv, ids, { ...o, stopIds: tok.eosIds, control: this.chatControl })) {
      if (tok.eosIds.includes(id)) break;
      out.push(id);
      // A Bengali character often spans several byte-level tokens: hold back a trailing
      // incomplete character (U+FFFD) until the tokens that complete it arrive.
      const stable = tok.decode(out, { skipSpecialTokens: true }).replace(/\uFFFD+$/, '');
      if (stable.length > text.length && stable.startsWith(text)) { onToken(stable.slice(text.length)); text = stable; }
    }
    const final = tok.decode(out, { skipSpecialTokens: true });
    if (final.length > text.length && final.startsWith(text)) onToken(final.slice(text.length));
    return { text: final, tokens: out.length, trimmedTurns: trimmed };
  }

  stopChat(): void { this.chatControl.cancel = true; }

  // ---- evaluation and export ---------------------------------------------------------------------

  /** Perplexity and generation metrics on a split; retried once on a new device if the GPU is lost. */
  async evaluate(o: EvalOptions, onProgress?: (done: number, total: number) => void): Promise<EvalResult> {
    const dataset = this.dataset;
    if (!dataset) throw new Error('prepare a dataset first (Data section)');
    const r = await this.withRecovery('evaluation', true, () => {
      const lora = o.useAdapter ? this.training?.lora ?? null : null;
      return evaluateSplit({ gpu: this.gpu, weights: this.requireModel().weights, lora, acts: this.actsForInference(), tokenizer: this.tokenizer!, dataset, kv: this.kvCache() }, o, onProgress);
    });
    if (this.training) await this.log?.evaluation(this.training.runId, r, this.training.position.step);
    return r;
  }

  async exportPeft(): Promise<Uint8Array> {
    const m = this.requireModel();
    if (!this.training) throw new Error('train or import an adapter first');
    return exportPeftZip(await readLoraWeights(this.gpu, this.training.lora), { config: m.source.config, baseModelNameOrPath: m.source.name });
  }

  /** The adapter as a llama.cpp LoRA GGUF (`--lora adapter.gguf`). */
  async exportGguf(): Promise<Uint8Array> {
    const m = this.requireModel();
    if (!this.training) throw new Error('train or import an adapter first');
    return loraToGguf(await readLoraWeights(this.gpu, this.training.lora), m.source.config, { name: m.source.name });
  }

  /** The adapter read back to the host (for the run bundle), with its run and model. */
  async adapterWeights(): Promise<{ runId: string; modelName: string; weights: LoraHostWeights } | null> {
    if (!this.model || !this.training) return null;
    return { runId: this.training.runId, modelName: this.model.source.name, weights: await readLoraWeights(this.gpu, this.training.lora) };
  }

  /** The prepared dataset's chat messages and split (for the run bundle), or null. */
  datasetForExport(): { examples: { messages: ChatMessage[] }[]; split: PreparedDataset['split'] } | null {
    return this.dataset ? { examples: this.dataset.examples.map((e) => ({ messages: e.messages })), split: this.dataset.split } : null;
  }

  /** Import a PEFT adapter (zip or folder files) to chat with, evaluate or continue training. */
  async importAdapter(input: Uint8Array | Record<string, Uint8Array>): Promise<{ runId: string; r: number; alpha: number; targets: string[]; config: TrainConfig }> {
    const m = this.requireModel();
    const host = await importPeft(input, m.source.config); // validated before anything changes
    const cfg = resolveTrainConfig({ ...(this.training?.cfg ?? {}), r: host.r, alpha: host.alpha, dropout: host.dropout, targets: parseTargets(host.targets) });
    if (this.training) releaseTensors(this.gpu, this.training);
    const runId = `import-${Date.now()}`;
    this.training = { ...allocTraining(this.gpu, m.weights, cfg), cfg, position: START, runId };
    setLoraWeights(this.gpu, this.training.lora, host);
    return { runId, r: host.r, alpha: host.alpha, targets: host.targets, config: cfg };
  }

  /** The KV cache for chat and evaluation (2048 positions or the model's maximum), allocated once. */
  private kvCache(): KvCache {
    const m = this.requireModel();
    this.kv ??= allocKvCache(this.gpu, m.weights, Math.min(m.source.config.maxPositionEmbeddings, 2048));
    return this.kv;
  }

  /** Activations for chat/eval: the training run's, or one inference set allocated once. */
  private actsForInference(): Activations {
    if (this.training) return this.training.acts;
    this.inferenceActs ??= allocTraining(this.gpu, this.requireModel().weights, resolveTrainConfig({ seqLen: 512, r: 1, targets: ['q_proj'] })).acts;
    return this.inferenceActs;
  }

  private requireModel() {
    if (!this.model) throw new Error('load a model first (Model section)');
    return this.model;
  }
}
