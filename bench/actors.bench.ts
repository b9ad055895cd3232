/**
 * make bench-actors: actor call round trips against raw NATS request/reply, same server, same
 * run, same processes. A child process serves both an echo actor (the runtime's host, codec,
 * headers and queue) and a raw NATS echo responder; this process calls each on one connection,
 * alternating call by call (1 in flight) or block by block (64 in flight) so machine noise hits
 * both alike. Payloads: a small object, and a
 * 1 MB Float32Array (250,000 floats = 1,000,000 bytes, which fits the server's default
 * 1 MiB max_payload in both paths, so neither goes through the object store).
 * Rows: p50/p99 latency and calls/s with 1 and 64 calls in flight, per payload.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect, type Handle } from "../runtime/index.ts";
import { startNatsServer } from "../runtime/nats-server.ts";
import { encode } from "../runtime/codec.ts";
import { report, type BenchRow } from "./report.ts";

const CLUSTER = "bench";
const ACTOR = "bench-echo";
const RAW_SUBJECT = "bench.raw.echo";

class BenchEcho {
  async echo<T>(x: T): Promise<T> {
    return x;
  }
}

/** Child mode: serve the echo actor and the raw responder until SIGTERM. */
async function serveMode(url: string): Promise<void> {
  const cluster = await connect({ connection: { servers: [url] }, cluster: CLUSTER, runDir: process.env.TMPDIR ?? "/tmp" });
  await cluster.serve(new BenchEcho(), { name: ACTOR });
  cluster.nc.subscribe(RAW_SUBJECT, { callback: (err, m) => void (err || m.respond(m.data)) });
  await cluster.nc.flush();
  console.log("ready");
  process.once("SIGTERM", () => void cluster.close().then(() => process.exit(0)));
}

interface Sample {
  latenciesUs: number[];
  callsPerSec: number;
}

async function warmUp(n: number, call: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i++) await call();
}

async function timeConcurrent(n: number, inFlight: number, call: () => Promise<unknown>): Promise<Sample> {
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (issued++ < n) await call();
    }),
  );
  return { latenciesUs: [], callsPerSec: n / ((performance.now() - t0) / 1000) };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** One call in flight, ours and the peer's alternating call by call, so load spikes hit both alike. */
async function interleaved(n: number, ours: () => Promise<unknown>, peer: () => Promise<unknown>): Promise<{ ours: Sample; peer: Sample }> {
  const lat = { ours: [] as number[], peer: [] as number[] };
  const total = { ours: 0, peer: 0 };
  for (let i = 0; i < n; i++) {
    for (const which of i % 2 ? (["ours", "peer"] as const) : (["peer", "ours"] as const)) {
      const t0 = performance.now();
      await (which === "ours" ? ours() : peer());
      const dt = performance.now() - t0;
      lat[which].push(dt * 1000);
      total[which] += dt;
    }
  }
  return {
    ours: { latenciesUs: lat.ours, callsPerSec: n / (total.ours / 1000) },
    peer: { latenciesUs: lat.peer, callsPerSec: n / (total.peer / 1000) },
  };
}

/** Runs peer and ours in alternating blocks; returns merged samples. */
async function compare(rounds: number, fn: (which: "ours" | "peer") => Promise<Sample>): Promise<{ ours: Sample; peer: Sample }> {
  const acc = { ours: { latenciesUs: [] as number[], rates: [] as number[] }, peer: { latenciesUs: [] as number[], rates: [] as number[] } };
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 ? (["ours", "peer"] as const) : (["peer", "ours"] as const)) {
      const s = await fn(which);
      acc[which].latenciesUs.push(...s.latenciesUs);
      acc[which].rates.push(s.callsPerSec);
    }
  }
  const merge = (a: { latenciesUs: number[]; rates: number[] }): Sample => ({
    latenciesUs: a.latenciesUs,
    callsPerSec: a.rates.reduce((x, y) => x + y, 0) / a.rates.length,
  });
  return { ours: merge(acc.ours), peer: merge(acc.peer) };
}

async function benchMode(): Promise<void> {
  const server = await startNatsServer();
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve", server.url], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.once("exit", (c) => reject(new Error(`bench responder exited (${c})`)));
  });
  const cluster = await connect({ connection: { servers: [server.url] }, cluster: CLUSTER, runDir: process.env.TMPDIR ?? "/tmp" });
  const nc: NatsConnection = cluster.nc;
  const h: Handle<BenchEcho> = await cluster.getActor<BenchEcho>(ACTOR);

  const small = { step: 12, task: "abduction", ok: true };
  const smallBytes = encode(small); // the peer sends the same bytes our codec would
  const big = new Float32Array(250_000).map((_, i) => i * 0.5);
  const bigBytes = new Uint8Array(big.buffer.slice(0));
  const callOurs = (x: unknown) => () => h.echo(x);
  const callPeer = (b: Uint8Array) => () => nc.request(RAW_SUBJECT, b, { timeout: 10_000 });

  const rows: BenchRow[] = [];
  const sizes = [
    { label: "small", ours: callOurs(small), peer: callPeer(smallBytes), seq: 4000, conc: 20_000, warm: 500 },
    { label: "1 MB", ours: callOurs(big), peer: callPeer(bigBytes), seq: 200, conc: 400, warm: 20 },
  ];
  for (const s of sizes) {
    await warmUp(s.warm, s.ours);
    await warmUp(s.warm, s.peer);
    const seq = await interleaved(s.seq, s.ours, s.peer);
    const conc = await compare(2, (w) => timeConcurrent(s.conc / 2, 64, w === "ours" ? s.ours : s.peer));
    rows.push(
      { metric: `p50 latency (${s.label})`, unit: "µs", ours: pct(seq.ours.latenciesUs, 0.5), peer: pct(seq.peer.latenciesUs, 0.5) },
      { metric: `p99 latency (${s.label})`, unit: "µs", ours: pct(seq.ours.latenciesUs, 0.99), peer: pct(seq.peer.latenciesUs, 0.99) },
      { metric: `calls/s 1 in flight (${s.label})`, unit: "calls/s", ours: seq.ours.callsPerSec, peer: seq.peer.callsPerSec },
      { metric: `calls/s 64 in flight (${s.label})`, unit: "calls/s", ours: conc.ours.callsPerSec, peer: conc.peer.callsPerSec },
    );
  }
  report({
    name: "actors",
    peer: "raw NATS request/reply",
    rows,
    notes: [
      `nats-server ${server.version} on loopback; caller and responders in two processes, 1 connection each`,
      "1 MB = Float32Array(250000), echoed back (1 MB each way); the peer echoes the same bytes",
      "latency ratios: lower is better; calls/s ratios: higher is better",
    ],
  });
  await cluster.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  await server.stop();
}

const i = process.argv.indexOf("--serve");
if (i >= 0) await serveMode(process.argv[i + 1]);
else await benchMode();
