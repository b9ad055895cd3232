/**
 * GPU detection: parsing nvidia-smi's CSV (one and several GPUs, odd spacing, a name with a
 * comma, [N/A] memory, driver error lines), and running it: a missing tool, a failing one that
 * still lists its healthy boards, one that prints only an error — each with the reason kept.
 */
import { strict as assert } from "node:assert";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { advertisedGpus, assignedDevice, assignedGpus, describeGpus, detectGpus, detectGpusSync, parseNvidiaSmi } from "../../runtime/gpus.ts";

describe("parseNvidiaSmi", () => {
  test("one GPU", () => {
    const r = parseNvidiaSmi("0, NVIDIA H100 80GB HBM3, 81559, GPU-5f2b1c3e-aaaa-bbbb-cccc-0123456789ab\n");
    assert.deepEqual(r, { gpus: [{ index: 0, name: "NVIDIA H100 80GB HBM3", memoryMB: 81559, uuid: "GPU-5f2b1c3e-aaaa-bbbb-cccc-0123456789ab" }], errors: [] });
  });

  test("several GPUs, odd spacing and CRLF, sorted by index", () => {
    const out = "1 ,NVIDIA A100-SXM4-80GB,   81920 , GPU-b\r\n   0,NVIDIA A100-SXM4-80GB,81920,GPU-a  \r\n\n  2 ,  Tesla T4 ,15360,GPU-c\n";
    const r = parseNvidiaSmi(out);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.gpus.map((g) => [g.index, g.name, g.memoryMB, g.uuid]), [
      [0, "NVIDIA A100-SXM4-80GB", 81920, "GPU-a"],
      [1, "NVIDIA A100-SXM4-80GB", 81920, "GPU-b"],
      [2, "Tesla T4", 15360, "GPU-c"],
    ]);
  });

  test("a name holding a comma and memory the driver does not report", () => {
    const r = parseNvidiaSmi("0, Board, Rev 2, [N/A], [N/A]\n");
    assert.deepEqual(r.gpus, [{ index: 0, name: "Board, Rev 2", memoryMB: 0 }]);
  });

  test("driver error lines are kept apart from the GPUs", () => {
    const out = "0, NVIDIA A10G, 23028, GPU-x\nUnable to determine the device handle for GPU0000:00:1F.0: Unknown Error\n";
    const r = parseNvidiaSmi(out);
    assert.deepEqual(r.gpus.map((g) => g.index), [0]);
    assert.deepEqual(r.errors, ["Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error"]);
    assert.deepEqual(parseNvidiaSmi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.").gpus, []);
  });
});

describe("detectGpus", () => {
  const dir = mkdtempSync(join(tmpdir(), "azr-smi-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  };

  test("a missing nvidia-smi is zero GPUs and says so", async () => {
    const missing = join(dir, "no-such-nvidia-smi");
    for (const d of [await detectGpus(missing), detectGpusSync(missing)]) {
      assert.deepEqual(d.gpus, []);
      assert.match(d.reason ?? "", /not found \(no NVIDIA driver/);
    }
  });

  test("a working one is asked for index, name, memory and uuid", async () => {
    const smi = script("ok-smi", `[ "$1" = "--query-gpu=index,name,memory.total,uuid" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 3\necho "0, NVIDIA L4, 23034, GPU-1"\necho "1, NVIDIA L4, 23034, GPU-2"`);
    for (const d of [await detectGpus(smi), detectGpusSync(smi)]) {
      assert.equal(d.reason, undefined);
      assert.deepEqual(d.gpus.map((g) => g.index), [0, 1]);
      assert.equal(describeGpus(d.gpus), "2 × NVIDIA L4 (23034 MB)");
    }
  });

  test("a failing one gives zero GPUs with its message; one failing after a healthy board keeps that board", async () => {
    const broken = script("broken-smi", `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."\nexit 9`);
    for (const d of [await detectGpus(broken), detectGpusSync(broken)]) {
      assert.deepEqual(d.gpus, []);
      assert.match(d.reason ?? "", /failed: NVIDIA-SMI has failed because it couldn't communicate/);
    }
    const partial = script("partial-smi", `echo "0, NVIDIA A10G, 23028, GPU-x"\necho "Unable to determine the device handle for GPU0000:00:1F.0: Unknown Error"\nexit 15`);
    const d = await detectGpus(partial);
    assert.deepEqual(d.gpus.map((g) => g.name), ["NVIDIA A10G"]);
    assert.match(d.reason ?? "", /Unable to determine the device handle/);
  });

  test("an advertised count is devices 0…N-1; AZR_GPUS reads back as indices", () => {
    assert.deepEqual(advertisedGpus(2).gpus.map((g) => g.index), [0, 1]);
    assert.equal(advertisedGpus(0).gpus.length, 0);
    assert.deepEqual(assignedGpus({ AZR_GPUS: "2,3" }), [2, 3]);
    assert.deepEqual(assignedGpus({ AZR_GPUS: "" }), []);
    assert.deepEqual(assignedGpus({}), []);
    assert.equal(assignedDevice({ AZR_GPUS: "1" }), "cuda", "an actor given a GPU defaults to CUDA");
    assert.equal(assignedDevice({ AZR_GPUS: "" }), "cpu");
  });
});
