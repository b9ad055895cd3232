/**
 * `azr model …`: look inside the model engine's graphs and move checkpoints between formats.
 *   dump   — write one of our graphs (step, score, logits) for a config.json as a .onnx file
 *            (weights are graph inputs, so no weights are needed; open it in Netron);
 *   export — write a Hugging Face checkpoint in the transformers.js layout (onnx/model.onnx).
 * And the top-level `azr export <checkpoint> <dir>`: a self-play checkpoint as a Hugging Face folder.
 */
import type { CommandModule } from "yargs";
import { join } from "node:path";
import { readConfig } from "../../model/config.ts";
import { loadWeights } from "../../model/checkpoint.ts";
import { buildGraph, type GraphKind } from "../../model/arch/transformer.ts";
import { dumpGraph } from "../../model/graph/serialize.ts";
import { exportTransformersJs } from "../../model/export/transformers-js.ts";
import { exportCheckpoint, ExportError } from "../../actors/selfplay/export.ts";

const KINDS: GraphKind[] = ["step", "score", "logits"];

interface DumpArgs {
  dir: string;
  graph: GraphKind;
  out?: string;
}

const dumpCommand: CommandModule<object, DumpArgs> = {
  command: "dump <dir>",
  describe: "write a model graph as .onnx (from the directory's config.json; weights stay inputs)",
  builder: (y) =>
    y
      .positional("dir", { type: "string", demandOption: true, describe: "model directory holding config.json" })
      .option("graph", { choices: KINDS, default: "step" as GraphKind, describe: "which graph: step (prefill/decode), score (per-token log-probs) or logits" })
      .option("out", { type: "string", describe: "output file (default: <graph>.onnx in the current directory)" }),
  handler: (argv) => {
    const config = readConfig(argv.dir);
    const graph = buildGraph(config, argv.graph);
    const out = argv.out ?? `${argv.graph}.onnx`;
    dumpGraph(graph, out);
    const ops = Object.entries(graph.opCounts()).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op}×${n}`).join(" ");
    console.log(`${out}: ${graph.nodes.length} nodes, ${graph.inputs.length} inputs, ${graph.outputs.length} outputs\n${ops}`);
  },
};

interface ExportArgs {
  dir: string;
  out: string;
}

const exportCommand: CommandModule<object, ExportArgs> = {
  command: "export <dir> <out>",
  describe: "write a checkpoint in the transformers.js layout (onnx/model.onnx + model.onnx_data, tokenizer copied)",
  builder: (y) =>
    y
      .positional("dir", { type: "string", demandOption: true, describe: "Hugging Face model directory (config.json, *.safetensors)" })
      .positional("out", { type: "string", demandOption: true, describe: "output directory" }),
  handler: (argv) => {
    const config = readConfig(argv.dir);
    exportTransformersJs(argv.out, config, loadWeights(argv.dir, config), argv.dir);
    console.log(`wrote ${join(argv.out, "onnx", "model.onnx")}`);
  },
};

interface ExportCheckpointArgs {
  checkpoint: string;
  dir: string;
}

/** `azr export <checkpoint> <dir>` (top level, as issue #6 names it): a self-play checkpoint as a Hugging Face folder. */
export const exportCheckpointCommand: CommandModule<object, ExportCheckpointArgs> = {
  command: "export <checkpoint> <dir>",
  describe: "write a self-play checkpoint (run folder, checkpoints/step-N or its learner/) as a Hugging Face model folder",
  builder: (y) =>
    y
      .positional("checkpoint", { type: "string", demandOption: true, describe: "run folder (its newest checkpoint), runs/<run>/checkpoints/step-N, or its learner/ folder" })
      .positional("dir", { type: "string", demandOption: true, describe: "output folder (config.json, model.safetensors, tokenizer files)" }),
  handler: (argv) => {
    try {
      const { source, files } = exportCheckpoint(argv.checkpoint, argv.dir);
      console.log(`wrote ${argv.dir} from ${source.learnerDir}: ${files.join(", ")}`);
    } catch (e) {
      if (!(e instanceof ExportError)) throw e;
      console.error(`azr export: ${e.message}`);
      process.exitCode = 2;
    }
  },
};

export const modelCommand: CommandModule = {
  command: "model <command>",
  describe: "inspect model graphs, export checkpoints",
  builder: (y) => y.command(dumpCommand).command(exportCommand).demandCommand(1),
  handler: () => {},
};
