/**
 * The training graph of one micro-batch: the architecture's forward pass (model/arch, the same
 * definition inference uses), the hidden states of the M loss positions gathered before the LM
 * head, the configured loss (./losses.ts), and d loss / d θ for the trainable tensors (all
 * weights, or only LoRA adapters with the base frozen) — one onnxruntime run gives loss, terms,
 * per-token log-probs and gradients.
 *
 * Inputs: the weights (and adapters, dropout masks), rope.cos/sin, input_ids/positions [B,T],
 * input_embeds [B,T,h] (the table's rows of input_ids, gathered by the trainer), attn_bias [B,T,T]
 * (./pack.ts: responses to one prompt share a row), rows [M] (flat b·T+t of each position that
 * predicts a loss token), and the loss inputs of ./losses.ts. Outputs: loss, term.<name>,
 * token_logprobs [M], and one gradient per trainable tensor (see gradOutputs and embedRowsGrad).
 *
 * Why the embeddings come in as an input: the gradient of a Gather is a scatter-add, and an
 * embedding's indices repeat (every token id occurs many times in a batch). onnxruntime's CPU
 * ScatterND with reduction "add" splits its updates across the intra-op threads with no guard
 * against two threads adding into the same row (microsoft/onnxruntime#18048): on two threads a
 * tiny-model batch lost updates in ~5% of the table's gradient, off by up to 10% of its largest
 * entry, and differently each run. So the graph returns d loss / d input_embeds and the trainer
 * adds the rows into the table in one ordered pass (./embedding.ts): the sums single-threaded
 * onnxruntime gave, bit for bit, on any thread count.
 * With `recompute`, each layer's activations are recomputed during the backward pass from the
 * residual stream at the layer's input (see GradientOptions.recomputeBoundaries).
 * Not: the optimiser (./optim.ts runs it in TypeScript).
 */
import { buildGraph } from "../arch/transformer.ts";
import type { Graph, GraphNode, Value } from "../graph/builder.ts";
import { weightShapes, type ArchConfig } from "../config.ts";
import { gradients, prune } from "./grad/backward.ts";
import { buildLoss, type LossSettings } from "./losses.ts";
import { applyLora, type LoraSettings } from "./lora.ts";

export interface TrainGraphSpec {
  config: ArchConfig;
  loss: LossSettings;
  /** Policy loss: old log-probs are fed (else π_old = π_θ detached, ρ = 1). */
  hasOld: boolean;
  lora?: LoraSettings;
  /** Recompute each layer's activations in the backward pass instead of keeping them (less memory, ~⅓ more compute). */
  recompute?: boolean;
}

export interface TrainGraph {
  graph: Graph;
  /** Names of the tensors that get gradients, in a fixed order. */
  trainable: string[];
  /** Trainable tensor → the graph output holding its gradient (the gradient value's own name: an
   * output renamed through Identity would copy every gradient once more). */
  gradOutputs: Map<string, string>;
  /**
   * The output holding d loss / d input_embeds (B,T,h) when the embedding table is trained: the
   * trainer scatter-adds it into the table's gradient by token id, on top of the LM head's part
   * (tied embeddings: the table's entry in gradOutputs; untied: the table has none).
   */
  embedRowsGrad?: string;
  /** Names of the term outputs (`term.<name>`). */
  terms: string[];
  /** LoRA dropout mask inputs: module → input name (empty without dropout). */
  masks: Map<string, Value>;
}

/**
 * The residual stream entering each layer and leaving the last one: the x of each layer's
 * input RMSNorm (and of the final norm), found through the node that multiplies by its weight.
 */
function layerBoundaries(g: Graph, c: ArchConfig): Value[] {
  const producer = new Map<Value, GraphNode>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const normInput = (weight: string): Value => {
    const scale = g.nodes.find((n) => n.op === "Mul" && n.inputs[1].name === weight); // (x·inv)·w
    const xInv = scale && producer.get(scale.inputs[0]);
    if (!xInv) throw new Error(`recompute: cannot find the RMSNorm reading ${weight}`);
    return xInv.inputs[0];
  };
  const names = Array.from({ length: c.numLayers }, (_, i) => `model.layers.${i}.input_layernorm.weight`);
  return [...names, "model.norm.weight"].map(normInput);
}

export const EMBED_TABLE = "model.embed_tokens.weight";

export function buildTrainGraph(spec: TrainGraphSpec): TrainGraph {
  const g = buildGraph(spec.config, "logits", { embedsInput: true, attnBiasInput: true });
  g.outputs.length = 0;
  const lora = spec.lora ? applyLora(g, spec.lora) : undefined;
  // The logits graph ends Gemm(normed, W_head) → Reshape(B,T,V); gather the loss rows before the Gemm.
  const producer = new Map<Value, GraphNode>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const headName = spec.config.tieWordEmbeddings ? EMBED_TABLE : "lm_head.weight";
  const head = g.nodes.findLast((n) => n.op === "Gemm" && n.inputs[1].name === headName);
  if (!head) throw new Error(`buildTrainGraph: no LM-head Gemm reading ${headName} in ${g.name}`);
  const rows = g.input("rows", "int64", ["M"]);
  const picked = g.gather(head.inputs[0], rows); // (M,h)
  const logits = g.linear(picked, head.inputs[1]); // (M,V)
  const lossGraph = buildLoss(g, logits, spec.loss, spec.hasOld);

  const byName = new Map(g.inputs.map((v) => [v.name, v]));
  const trainable = lora ? [...lora.adapters.keys()] : [...weightShapes(spec.config).keys()];
  // The table itself is read in the graph only by a tied LM head; its rows' part is input_embeds'.
  const embedTrained = trainable.includes(EMBED_TABLE);
  const targets = trainable.filter((n) => n !== EMBED_TABLE || headName === EMBED_TABLE).map((n) => byName.get(n)!);
  const embeds = byName.get("input_embeds")!;
  const wrt = embedTrained ? [...targets, embeds] : targets;
  const grads = gradients(g, lossGraph.loss, wrt, { recomputeBoundaries: spec.recompute ? layerBoundaries(g, spec.config) : undefined });
  g.output(lossGraph.loss, "loss");
  const terms = Object.keys(lossGraph.termSums);
  for (const t of terms) g.output(lossGraph.termSums[t], `term.${t}`);
  g.output(lossGraph.logprobs, "token_logprobs");
  const gradOutputs = new Map<string, string>();
  const outputNames = new Set(g.outputs.map((o) => o.name));
  for (const v of wrt) {
    const gv = grads.get(v)!;
    const out = outputNames.has(gv.name) || g.inputs.includes(gv) ? g.output(gv, `grad.${v.name}`) : g.output(gv);
    outputNames.add(out.name);
    gradOutputs.set(v.name, out.name);
  }
  // input_embeds is not a trainable tensor: its gradient is reported apart, for the trainer's scatter-add.
  const embedRowsGrad = gradOutputs.get(embeds.name);
  gradOutputs.delete(embeds.name);
  prune(g);
  return { graph: g, trainable, gradOutputs, embedRowsGrad, terms, masks: lora?.masks ?? new Map() };
}
