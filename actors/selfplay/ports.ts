/**
 * What one self-play step needs from the other actors, as plain interfaces. The driver passes
 * actor handles (runtime/) in a run and in-process objects in tests; both satisfy these, since a
 * handle's method has the class method's signature (async generators become async iterables).
 *
 * Covers: the contract only. Not: how each actor does its job.
 */
import type { Prompt } from "../../azr/prompts.ts";
import type { InductionEntry, TaskType, Triplet } from "../../azr/tasks.ts";
import type { BufferCounters, BufferValueStats } from "./task-buffer.ts";
import type { TrainSequence, TrainStats } from "../../model/engine.ts";
import type { AnswerCheck, IndexedAnswerVerdict, InductionMode, ProposalCheck, ProposalVerdict } from "../code-executor/index.ts";

export interface RolloutOptions {
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** Sequence i samples from a stream derived from (seed, i): reruns draw the same tokens. */
  seed: number;
  /** Sequence i samples from (seed, firstIndex + i) instead: how the rollout pool's parts sample as the whole request would. Default 0. */
  firstIndex?: number;
  /**
   * The weight version the caller set last: an engine holding another (it restarted with the
   * base weights) refuses with an error named WEIGHTS_VERSION_MISMATCH instead of sampling from
   * the wrong policy. Absent: no check.
   */
  weightsVersion?: number;
}

/** The name of the rollout engine's error for a `weightsVersion` it does not hold. */
export const WEIGHTS_VERSION_MISMATCH = "WeightsVersionMismatch";

/** One finished generation, with the tokens the learner trains on. */
export interface RolloutSample {
  index: number;
  promptTokens: number[];
  tokens: number[];
  text: string;
  finishReason: "eos" | "stop" | "length";
  /** The prompt alone was longer than the engine's prompt limit: nothing was generated. */
  promptTooLong: boolean;
  /**
   * Per token, its log-prob under the weights that sampled it at temperature 1 (π_old of §7.2
   * for the behaviour policy): what an off-policy update (`selfplay.offPolicy`) divides by.
   */
  logprobs?: Float32Array;
  /** The weight version that generated it (the rollout engine's at the call's start; absent from engines that keep none). */
  weightsVersion?: number;
}

export interface RolloutPort {
  generate(prompts: Prompt[], options: RolloutOptions): AsyncIterable<RolloutSample>;
  /** Token count of each prompt (for the prompt-length limits of §4.3). */
  countTokens(prompts: Prompt[]): Promise<number[]>;
}

export interface ExecutorPort {
  validateProposals(checks: ProposalCheck[]): AsyncIterable<ProposalVerdict>;
  /** `inductionMode`: how induction answers are scored (`reward.inductionMode`; absent: binary). */
  checkAnswers(checks: AnswerCheck[], opts?: { inductionMode?: InductionMode }): AsyncIterable<IndexedAnswerVerdict>;
}

export interface LearnerPort {
  /** `expectVersion`: the weight version the caller believes the learner holds; another one is refused (LEARNER_VERSION_MISMATCH). */
  trainStep(batch: TrainSequence[], expectVersion?: number): Promise<TrainStats>;
}

/** The name of the learner's error for an `expectVersion` it does not hold (it restarted). */
export const LEARNER_VERSION_MISMATCH = "LearnerVersionMismatch";

/** Log-probs of responses under the frozen reference policy (only when the loss has a KL term). */
export interface ReferencePort {
  score(prompts: number[][], responses: number[][]): Promise<Float32Array[]>;
  /** What serves it, in logs: "reference-model" when absent (a LoRA run's learner serves it otherwise). */
  readonly servedBy?: string;
}

/** The buffers of (program, input, output) triplets; `error` only when the recipe lists that type. */
export type TripletBufferName = "deduction" | "abduction" | "error";

/** The task buffers' remote surface (actors/selfplay/task-buffer.ts implements it). */
export interface BufferPort {
  /** For each of `count` prompts, K references drawn from the named buffer (rng from seed). */
  drawReferences(buffer: TripletBufferName, count: number, k: number, seed: number): Promise<Triplet[][]>;
  /** `count` programs drawn uniformly from the union of the deduction and abduction buffers. */
  drawInductionPrograms(count: number, seed: number): Promise<Triplet[]>;
  /** Admit validated entries made at `step`; returns the entries that entered (new ones). */
  admit(buffer: TaskType, entries: (Triplet | InductionEntry)[], step: number): Promise<(Triplet | InductionEntry)[]>;
  /** L solver tasks from the new entries and the buffer (`selfplay.solverMix`). */
  solverTasks(buffer: TaskType, fresh: (Triplet | InductionEntry)[], count: number, seed: number): Promise<(Triplet | InductionEntry)[]>;
  sizes(): Promise<Record<string, number>>;
  /** How often each input / output value and type entered the named buffer (for the diversity rewards, §6.3). */
  valueCounters(buffer: TaskType): Promise<BufferCounters>;
  /** Per buffer: size, distinct types and unique values of inputs and outputs (metrics, §8). */
  valueStats(): Promise<Record<string, BufferValueStats>>;
}
