/** The worker wire format: frames survive any chunking; oversized frames are refused. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame, FrameError, FrameReader, MAX_FRAME_BYTES } from "../../actors/code-executor/protocol.ts";

test("protocol - frames reassemble from chunks of every size", () => {
  const msgs = [{ t: "result", r: { id: 1, stage: "ok" } }, { t: "ready", pid: 2 }, { big: "x".repeat(70_000) }];
  const bytes = Buffer.concat(msgs.map(encodeFrame));
  for (const size of [1, 3, 4, 5, 17, 4096, bytes.length]) {
    const r = new FrameReader();
    const out: unknown[] = [];
    for (let i = 0; i < bytes.length; i += size) out.push(...r.push(bytes.subarray(i, i + size)));
    assert.deepEqual(out, msgs, `chunk size ${size}`);
  }
});

test("protocol - a frame header above the limit is a FrameError, not an allocation", () => {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  assert.throws(() => new FrameReader().push(head), FrameError);
});
