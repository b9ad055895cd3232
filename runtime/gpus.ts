/**
 * What GPUs this machine has, as the node agent advertises them. Covers: parsing
 * `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`, running it
 * (a missing tool, a failure or a hang = no GPUs, with the reason kept for `azr nodes` and
 * `azr doctor`), and the stand-in list for a count given by the operator (`--gpu N`).
 * Not: assigning devices to actors (placement.ts).
 */
import { execFile, execFileSync } from "node:child_process";

export interface GpuInfo {
  /** nvidia-smi's index: what CUDA_VISIBLE_DEVICES names. */
  index: number;
  name: string;
  /** Total memory; 0 when the driver did not say. */
  memoryMB: number;
  uuid?: string;
}

export interface GpuDetection {
  gpus: GpuInfo[];
  /** Where the list came from. */
  source: "nvidia-smi" | "advertised";
  /** Why no (or fewer) GPUs were found: the tool is missing, failed, or printed lines we cannot read. */
  reason?: string;
}

export const NVIDIA_SMI_ARGS = ["--query-gpu=index,name,memory.total,uuid", "--format=csv,noheader,nounits"];
/** A driver in a bad state can make nvidia-smi hang for a long time; the agent must still start. */
const NVIDIA_SMI_TIMEOUT_MS = 15_000;

/** One GPU per line `index, name, memory MB, uuid`; lines that are not (driver errors) are returned as `errors`. */
export function parseNvidiaSmi(text: string): { gpus: GpuInfo[]; errors: string[] } {
  const gpus: GpuInfo[] = [];
  const errors: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const f = line.split(",").map((s) => s.trim());
    const index = Number(f[0]);
    // A GPU name may itself hold a comma: the index is first, memory and uuid are the last two.
    if (f.length < 4 || f[0] === "" || !Number.isInteger(index) || index < 0) {
      errors.push(line);
      continue;
    }
    const mem = Number(f[f.length - 2]);
    const uuid = f[f.length - 1];
    gpus.push({
      index,
      name: f.slice(1, -2).join(", "),
      memoryMB: Number.isFinite(mem) && mem > 0 ? Math.round(mem) : 0, // "[N/A]" on some boards
      ...(uuid && !uuid.startsWith("[") ? { uuid } : {}),
    });
  }
  gpus.sort((a, b) => a.index - b.index);
  return { gpus, errors };
}

/** Runs nvidia-smi; never throws (no tool, no driver, a timeout: zero GPUs and the reason). */
export function detectGpus(command = "nvidia-smi"): Promise<GpuDetection> {
  return new Promise((resolve) => {
    execFile(command, NVIDIA_SMI_ARGS, { encoding: "utf8", timeout: NVIDIA_SMI_TIMEOUT_MS }, (err, stdout, stderr) => resolve(interpret(command, err, stdout, stderr)));
  });
}

/** detectGpus for synchronous callers (the recipe preflight, before anything starts). */
export function detectGpusSync(command = "nvidia-smi"): GpuDetection {
  try {
    const stdout = execFileSync(command, NVIDIA_SMI_ARGS, { encoding: "utf8", timeout: NVIDIA_SMI_TIMEOUT_MS, stdio: ["ignore", "pipe", "pipe"] });
    return interpret(command, null, stdout, "");
  } catch (e) {
    const x = e as Error & { stdout?: string | Buffer; stderr?: string | Buffer };
    return interpret(command, x, String(x.stdout ?? ""), String(x.stderr ?? ""));
  }
}

function interpret(command: string, err: Error | null, stdout: string, stderr: string): GpuDetection {
  const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string }) | null;
  if (e && (e.code === "ENOENT" || e.killed || e.code === "ETIMEDOUT")) {
    const why = e.code === "ENOENT" ? `${command} not found (no NVIDIA driver on this machine)` : `${command} did not answer within ${NVIDIA_SMI_TIMEOUT_MS / 1000} s`;
    return { gpus: [], source: "nvidia-smi", reason: why };
  }
  // A failing board makes nvidia-smi exit non-zero after listing the healthy ones: keep those.
  const { gpus, errors } = parseNvidiaSmi(stdout);
  const reason = e
    ? `${command} failed: ${errors[0] || firstLine(stderr) || e.message}`
    : errors.length
      ? `${command} printed ${errors.length} line(s) that are not GPUs: ${errors[0]}`
      : gpus.length
        ? undefined
        : `${command} lists no GPUs`;
  return { gpus, source: "nvidia-smi", ...(reason ? { reason } : {}) };
}

/** `--gpu N` (or `resources.gpu` given to the agent): N devices, indices 0…N-1, taken on the operator's word. */
export function advertisedGpus(count: number): GpuDetection {
  const gpus = Array.from({ length: Math.floor(count) }, (_, index) => ({ index, name: "advertised", memoryMB: 0 }));
  return { gpus, source: "advertised" };
}

/** "2 × NVIDIA H100 80GB HBM3 (81559 MB)", or "none" — for messages and tables. */
export function describeGpus(gpus: readonly GpuInfo[]): string {
  if (!gpus.length) return "none";
  const groups = new Map<string, number>();
  for (const g of gpus) {
    const k = g.memoryMB ? `${g.name} (${g.memoryMB} MB)` : g.name;
    groups.set(k, (groups.get(k) ?? 0) + 1);
  }
  return [...groups].map(([k, n]) => `${n} × ${k}`).join(", ");
}

function firstLine(s: string | undefined): string {
  return (s ?? "").split("\n").find((l) => l.trim())?.trim() ?? "";
}

/** Inside an actor process: the GPU indices its node agent gave it (AZR_GPUS; empty = none, or not started by an agent). */
export function assignedGpus(env: NodeJS.ProcessEnv = process.env): number[] {
  return (env.AZR_GPUS ?? "").split(",").filter((s) => s.trim() !== "").map(Number);
}

/** Inside an actor process: the torch device to use when none is named — "cuda" when its node agent gave it GPUs, else "cpu". */
export function assignedDevice(env: NodeJS.ProcessEnv = process.env): "cuda" | "cpu" {
  return assignedGpus(env).length > 0 ? "cuda" : "cpu";
}
