// The export worker thread (model.ts runExport): worker threads do not inherit the parent's
// TypeScript loader, so tsx is registered first (as model/ort/worker-entry.mjs does), then the job runs.
import { register } from "tsx/esm/api";
import { workerData } from "node:worker_threads";

register();
const { runExportJob } = await import("./model.ts");
runExportJob(workerData.azrExportJob);
