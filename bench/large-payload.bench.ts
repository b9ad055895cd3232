/**
 * Large-payload benchmark: PayloadStore.pack/unpack of 50 MB against @nats-io/obj's own
 * putBlob and getBlob + delete (the peer as its users call it) on the same embedded
 * nats-server, same bucket settings, same chunk size. Runs alternate; medians are reported.
 */
import { connect } from "@nats-io/transport-node";
import { Objm, StorageType } from "@nats-io/obj";
import { startNatsServer } from "../runtime/nats-server.ts";
import { PayloadStore } from "../runtime/large-payload.ts";
import { report } from "./report.ts";

const SIZE = 50 * 1024 * 1024;
const RUNS = 5;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
try {
  const store = await PayloadStore.open(nc, { bucket: "bench-ours" });
  const peer = await new Objm(nc).create("bench-peer", { storage: StorageType.File });
  const chunk = nc.info!.max_payload - 4096;
  const bytes = new Uint8Array(SIZE).map((_, i) => (i * 2654435761) >>> 24);
  const ours = { put: [] as number[], get: [] as number[] };
  const theirs = { put: [] as number[], get: [] as number[] };
  for (let r = 0; r < RUNS; r++) {
    let t0 = performance.now();
    const packed = await store.pack(bytes);
    ours.put.push(performance.now() - t0);
    t0 = performance.now();
    const back = await store.unpack(packed.body, true);
    ours.get.push(performance.now() - t0);
    if (back.length !== SIZE) throw new Error(`ours returned ${back.length} bytes`);

    const name = `peer-${r}`;
    t0 = performance.now();
    await peer.putBlob({ name, options: { max_chunk_size: chunk } }, bytes);
    theirs.put.push(performance.now() - t0);
    t0 = performance.now();
    const peerBack = await peer.getBlob(name);
    await peer.delete(name);
    theirs.get.push(performance.now() - t0);
    if (peerBack?.length !== SIZE) throw new Error(`peer returned ${peerBack?.length} bytes`);
  }
  report({
    name: "large-payload",
    peer: "@nats-io/obj putBlob/getBlob",
    rows: [
      { metric: "put 50 MB (ms)", unit: "ms", ours: median(ours.put), peer: median(theirs.put) },
      { metric: "get+delete 50 MB (ms)", unit: "ms", ours: median(ours.get), peer: median(theirs.get) },
    ],
    notes: [`median of ${RUNS} alternating runs; chunks of ${chunk} bytes on both sides; nats-server ${server.version}`],
  });
} finally {
  await nc.close();
  await server.stop();
}
