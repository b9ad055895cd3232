/**
 * The Absolute Zero algorithm as pure functions (azr-spec.md). Import from here; each module's
 * header lists what it covers and where it departs from the paper or the reference code.
 * Nothing in azr/ does I/O or imports runtime/, model/ or actors/.
 */
export * from "./tasks.ts";
export * from "./rng.ts";
export * from "./answer.ts";
export * from "./literal.ts";
export * from "./pysource.ts";
export * from "./proposal.ts";
export * from "./prompts.ts";
export * from "./rewards.ts";
export * from "./reward-registry.ts";
export * from "./advantages.ts";
export * from "./loss.ts";
export * from "./buffers.ts";
export * from "./responses.ts";
export * from "./metrics.ts";
export * from "./error-task.ts";
