/**
 * One ModelEngine from an inference engine (model/ort's OrtEngine, or any ModelEngine) and an
 * OrtTrainer: generate/score run on the engine; trainStep trains, then hands the engine the new
 * full weights (LoRA merged) as version `step`, so the next rollouts sample from the updated
 * policy. save writes the trainer's checkpoint (HF layout + optimiser state, resumable).
 * Not: a frozen reference model (with LoRA, the base itself: a second engine on the base weights).
 */
import type { ModelEngine, TrainSequence, TrainStats } from "../engine.ts";
import type { OrtTrainer } from "./trainer.ts";

export function withTrainer(engine: ModelEngine, trainer: OrtTrainer): ModelEngine & { readonly trainer: OrtTrainer } {
  return {
    backend: engine.backend,
    trainer,
    generate: (req, signal) => engine.generate(req, signal),
    score: (req) => engine.score(req),
    async trainStep(batch: TrainSequence[]): Promise<TrainStats> {
      const stats = await trainer.trainStep(batch);
      await engine.setWeights(await trainer.getMergedWeights(), stats.step);
      return stats;
    },
    getWeights: () => engine.getWeights(),
    async setWeights(weights, version) {
      // The trainer first: under LoRA it refuses full weights (names do not match), and the engine must not have taken them then.
      await trainer.setWeights(weights, version);
      await engine.setWeights(weights, version);
    },
    save: (dir) => trainer.save(dir),
    async dispose() {
      await trainer.dispose();
      await engine.dispose();
    },
  };
}
