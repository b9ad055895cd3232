/** Frame codec of the engine worker's pipe: any chunking reassembles the same messages. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, FrameReader } from "../../model/torch/frames.ts";

test("frames - messages survive every split point and back-to-back packing", () => {
  const msgs = [{ id: 1, method: "score", args: { prompts: [[1, 2, 3]] } }, { id: 2, ok: new Uint8Array([9, 8, 7]) }, { id: 3, end: true }];
  const wire = Buffer.concat(msgs.map(encodeFrame));
  for (let cut = 0; cut <= wire.length; cut++) {
    for (const step of [1, 3, 7, wire.length]) {
      const r = new FrameReader();
      const got: unknown[] = [...r.push(wire.subarray(0, cut))];
      for (let p = cut; p < wire.length; p += step) got.push(...r.push(wire.subarray(p, Math.min(wire.length, p + step))));
      assert.deepEqual(got, msgs, `cut ${cut} step ${step}`);
    }
  }
});
