/**
 * torchPrecision: which parameter dtype and autocast each torch actor gets from a recipe's
 * model.dtype. The case that matters is full fine-tuning on CUDA: bf16 parameters would round
 * away AdamW steps of the spec's size (measured with torch 1.13: after 10 steps at lr 1e-6, 1.9%
 * of N(0, 0.02) bf16 weights had changed, against 99.99% in fp32), so the learner keeps fp32
 * weights and computes in bf16.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { torchPrecision } from "../../model/torch/engine.ts";

test("full fine-tuning on CUDA keeps fp32 weights under bf16 autocast; inference and LoRA hold bf16; CPU is fp32", () => {
  assert.deepEqual(torchPrecision("bf16", "cuda", "full-training"), { dtype: "float32", autocastBf16: true });
  assert.deepEqual(torchPrecision(undefined, "cuda:1", "full-training"), { dtype: "float32", autocastBf16: true }, "bf16 is the default");
  assert.deepEqual(torchPrecision("bf16", "cuda", "inference"), { dtype: "bfloat16", autocastBf16: false });
  assert.deepEqual(torchPrecision("bf16", "cuda", "lora-training"), { dtype: "bfloat16", autocastBf16: false }, "frozen base in bf16, fp32 adapters");
  assert.deepEqual(torchPrecision("fp32", "cuda", "full-training"), { dtype: "float32", autocastBf16: false });
  assert.deepEqual(torchPrecision("fp32", "cuda", "inference"), { dtype: "float32", autocastBf16: false });
  for (const use of ["inference", "full-training", "lora-training"] as const) {
    assert.deepEqual(torchPrecision("bf16", "cpu", use), { dtype: "float32", autocastBf16: false }, `cpu ${use}`);
  }
});
