/**
 * Per-token loss weights: encoding an example segment by segment gives exactly the ids of the
 * whole text (so weights land on the right tokens), the answer tokens carry the answer weight and
 * decode to the answer values, and eos closes every example.
 */
import { strict as assert } from "node:assert";
import { it } from "node:test";
import { formatCorpus, TINY_FORMAT_OPTIONS, type ExecutedProgram } from "../../azr/corpus/format.ts";
import { generatePrograms } from "../../azr/corpus/programs.ts";
import { CorpusEncoder, EOS_TOKEN, tokenizerJson, trainBpe } from "../../azr/corpus/tokenizer.ts";
import { DEFAULT_SEGMENT_WEIGHTS, tokenizeExample } from "../../azr/corpus/training-data.ts";

it("segment-wise ids equal whole-text ids; answer weights cover exactly the answer values", () => {
  const programs: ExecutedProgram[] = generatePrograms({ seed: 9, count: 80 }).map((p) => ({
    ...p,
    pairs: Array.from({ length: 8 }, (_, k) => ({ input: `${k}, 'w${k}'`, output: `{'a': ${k * 11}}` })),
  }));
  const examples = formatCorpus(programs, 9, TINY_FORMAT_OPTIONS);
  const json = tokenizerJson(trainBpe(examples.map((e) => e.text), { vocabSize: 600 }));
  const enc = new CorpusEncoder(json);
  const eos = (json.added_tokens as { id: number; content: string }[]).find((t) => t.content === EOS_TOKEN)!.id;
  for (const e of examples) {
    const t = tokenizeExample(e, (s) => enc.encode(s), eos);
    assert.deepEqual(t.ids.slice(0, -1), enc.encode(e.text), `${e.programId}/${e.form}`);
    assert.equal(t.ids.at(-1), eos);
    assert.equal(t.ids.length, t.weights.length);
    const answerIds = t.ids.filter((_, i) => t.weights[i] === DEFAULT_SEGMENT_WEIGHTS.answer);
    const answerText = e.segments.filter((s) => s.kind === "answer").map((s) => e.text.slice(s.start, s.end)).join("");
    assert.equal(enc.decode(answerIds), answerText);
  }
});
