/** A corpus of one repeated deduction example (make-corpus layout), so a few pretraining steps must lower the loss. */
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { curriculumOrder, formatCorpus, TINY_FORMAT_OPTIONS, type ExecutedProgram } from "../../azr/corpus/format.ts";

export function writeSmallCorpus(dir: string, copies = 1): void {
  const prog: ExecutedProgram = {
    id: "p0", level: 0, template: "add", params: ["int"], source: "def f(a):\n    return a + 1", message: "adds one",
    pairs: [{ input: "1", output: "2" }, { input: "5", output: "6" }, { input: "7", output: "8" }, { input: "9", output: "10" }],
  };
  const examples = curriculumOrder(formatCorpus([prog], 1, TINY_FORMAT_OPTIONS), 1);
  const lines = Array.from({ length: copies }, () => examples.map((e) => JSON.stringify(e))).flat();
  writeFileSync(join(dir, "corpus.jsonl"), lines.join("\n") + "\n");
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join("data/tiny", f), join(dir, f));
}
