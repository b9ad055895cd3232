/**
 * GPU devices through real node agents on a real nats-server: an agent process advertising
 * `--gpu 2` gives two 1-GPU actors different CUDA_VISIBLE_DEVICES (read inside the actors), a
 * third fails with the PlacementError naming what is free, killing one frees its index; an actor
 * with no GPU sees an empty CUDA_VISIBLE_DEVICES; two at once get different devices; a colocation
 * group shares devices. Then an agent started without a count detects the GPUs of an nvidia-smi
 * on its PATH (a script printing nvidia-smi's CSV) and advertises their models.
 */
import { strict as assert } from "node:assert";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { NodeAgent, PlacementError, type Cluster } from "../../runtime/index.ts";
import { gpusTable } from "../../cli/commands/nodes.ts";
import { GpuProbe } from "./fixtures/gpu-actors.ts";
import { startAgentProcess, stopAgentProcess, useCluster } from "./helpers.ts";

const NAME = "t-gpus";

describe("GPU devices given by a node agent", () => {
  const t = useCluster(NAME);
  let cluster: Cluster;
  let agent: ChildProcess;
  const spawn = (name: string, resources: Parameters<Cluster["spawn"]>[2]["resources"]) => cluster.spawn(GpuProbe, [], { name, resources, node: "gpu2" });
  const visible = async (name: string) => (await (await cluster.getActor<GpuProbe>(name)).visible()).cuda;

  before(async () => {
    cluster = t.cluster;
    agent = await startAgentProcess({ cluster: NAME, id: "gpu2", gpu: 2, cpu: 16, runDir: t.runDir, env: { NATS_URL: t.server.url } });
  });
  t.onTeardown(async () => stopAgentProcess(agent));

  test("two 1-GPU actors see different devices; a third is refused naming what is free; a kill frees an index", async () => {
    const a = await spawn("a", { gpu: 1 });
    await spawn("b", { gpu: 1 });
    assert.deepEqual(await a.visible(), { cuda: "0", azr: "0" });
    assert.equal(await visible("b"), "1");
    assert.deepEqual((await cluster.registry.get("b"))?.gpuIndices, [1]);

    const err = await spawn("c", { gpu: 1 }).catch((e: unknown) => e);
    assert.ok(err instanceof PlacementError, `got ${err}`);
    assert.match(err.message, /cannot place actor 'c' requesting \{"gpu":1/);
    assert.match(err.message, /gpu2: \{"cpu":16,"gpu":0,.*"gpuIndices":\[\]/);

    const table = gpusTable(await cluster.nodes(), await cluster.actors());
    assert.match(table, /^gpu2\s+0\s+advertised\s+-\s+a$/m);
    assert.match(table, /^gpu2\s+1\s+advertised\s+-\s+b$/m);

    await cluster.kill("a");
    await spawn("c", { gpu: 1 });
    assert.equal(await visible("c"), "0", "a's index is free again");
  });

  test("an actor that asks for no GPU sees none (CUDA_VISIBLE_DEVICES set and empty)", async () => {
    const d = await spawn("d", { cpu: 1 });
    assert.deepEqual(await d.visible(), { cuda: "", azr: "" });
  });

  test("two spawns at once get different devices; a colocation group shares them", async () => {
    await Promise.all([cluster.kill("b"), cluster.kill("c")]);
    await Promise.all([spawn("p", { gpu: 1 }), spawn("q", { gpu: 1 })]);
    assert.deepEqual([await visible("p"), await visible("q")].sort(), ["0", "1"]);
    await Promise.all([cluster.kill("p"), cluster.kill("q")]);

    await spawn("rollout", { gpu: 1, gpuShare: "run" });
    await spawn("learner", { gpu: 2, gpuShare: "run" });
    assert.equal(await visible("rollout"), "0");
    assert.equal(await visible("learner"), "0,1", "the group's device first, then the free one");
    await assert.rejects(spawn("outsider", { gpu: 1 }), PlacementError);
  });
});

describe("GPU detection by a node agent", () => {
  const t = useCluster("t-gpus-detect");
  const bin = mkdtempSync(join(tmpdir(), "azr-fake-smi-"));
  let agent: NodeAgent | undefined;

  before(async () => {
    // nvidia-smi's answer on a two-board machine, from a script that stands in for it on PATH.
    writeFileSync(join(bin, "nvidia-smi"), `#!/bin/sh\necho "0, NVIDIA A100-SXM4-80GB, 81920, GPU-aaaa"\necho "1, NVIDIA A100-SXM4-80GB, 81920, GPU-bbbb"\n`);
    chmodSync(join(bin, "nvidia-smi"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      agent = await NodeAgent.start({ nc: t.cluster.nc, connection: t.cluster.spec, cluster: t.cluster.name, id: "detected", runDir: t.runDir, resources: { cpu: 4 } });
    } finally {
      process.env.PATH = path;
    }
  });
  t.onTeardown(async () => {
    await agent?.close();
    rmSync(bin, { recursive: true, force: true });
  });

  test("the agent advertises the detected count, models and memory, and gives their indices", async () => {
    const [n] = await t.cluster.nodes();
    assert.equal(n.resources.gpu, 2);
    assert.deepEqual(n.gpus?.map((g) => [g.index, g.name, g.memoryMB]), [[0, "NVIDIA A100-SXM4-80GB", 81920], [1, "NVIDIA A100-SXM4-80GB", 81920]]);
    assert.equal(n.gpuNote, undefined);
    const p = await t.cluster.spawn(GpuProbe, [], { name: "probe", resources: { gpu: 2 } });
    assert.equal((await p.visible()).cuda, "0,1");
    assert.match(gpusTable([n], await t.cluster.actors()), /^detected\s+1\s+NVIDIA A100-SXM4-80GB\s+81920\s+probe$/m);
  });
});
