/** Runs test/train/torch_train.py (PyTorch references: whole-model gradients, AdamW) on one request or many. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { findPython } from "../../model/python.ts";

export function torchTrain(req: object): any {
  const out = execFileSync(findPython().path, [join(import.meta.dirname, "torch_train.py")], { input: JSON.stringify(req), maxBuffer: 1 << 28 });
  return JSON.parse(out.toString());
}
