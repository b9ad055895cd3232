/**
 * `--code-prompt evalplus` prompts as EvalPlus does: its chat prompt when the model's tokenizer
 * has a chat template (unless the base prompt is forced), its completion prompt otherwise.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EVALPLUS_RESPONSE, evalplusPrompt, type CodeProblem } from "../../actors/eval/code-bench.ts";
import { codePromptFor, evalplusUsesChat, type PromptOptions } from "../../actors/eval/suites.ts";
import { InTrainingEval, type InTrainingConfig } from "../../actors/eval/in-training.ts";
import { benchmarksDir } from "../../actors/eval/paths.ts";
import { getRecipe } from "../../recipes/index.ts";
import { CodeExecutor } from "../../actors/code-executor/index.ts";
import type { Prompt } from "../../azr/index.ts";

const problem = { id: "HumanEval/0", benchmark: "humaneval+", prompt: "def f(x):\n    \"\"\"Twice x.\"\"\"\n" } as CodeProblem;

describe("EvalPlus's prompt follows the model's chat template", () => {
  let chat: string;
  before(() => {
    chat = mkdtempSync(join(tmpdir(), "azr-evalplus-chat-"));
    copyFileSync("data/tiny/tokenizer.json", join(chat, "tokenizer.json"));
    const config = JSON.parse(readFileSync("data/tiny/tokenizer_config.json", "utf8")) as Record<string, unknown>;
    writeFileSync(join(chat, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: "{% for m in messages %}{{ m.content }}{% endfor %}" }));
  });
  after(() => rmSync(chat, { recursive: true, force: true }));

  it("a tokenizer with a chat template gets the chat prompt; without one, or with the base prompt forced, the completion prompt", () => {
    assert.equal(evalplusUsesChat(chat), true);
    assert.equal(evalplusUsesChat(chat, true), false);
    assert.equal(evalplusUsesChat("data/tiny"), false, "the shipped tiny model has no chat template");
  });

  it("the decision overrides --chat-template (which is about the R1 prompts)", () => {
    const o = (evalplusChat: boolean | undefined, chatTemplate: boolean): PromptOptions => ({ codePrompt: "evalplus", mathTemplate: "azr", chatTemplate, evalplusChat });
    const asChat = codePromptFor(problem, o(true, false));
    assert.equal(asChat.kind, "chat");
    assert.ok(asChat.kind === "chat" && asChat.assistantPrefill.startsWith(EVALPLUS_RESPONSE));
    assert.deepEqual(codePromptFor(problem, o(false, true)), { kind: "text", text: evalplusPrompt(problem) });
    assert.equal(codePromptFor(problem, o(undefined, true)).kind, "chat", "unset: as --chat-template (in-training evaluation)");
  });
});

describe("in-training evaluation makes the same EvalPlus prompt choice as azr eval", () => {
  /** Records the first prompt the evaluation asks for, answers nothing. */
  const capture = () => {
    const seen: Prompt[] = [];
    const rollout = {
      async *generate(prompts: Prompt[]) {
        seen.push(...prompts);
        for (const index of prompts.keys()) yield { index, promptTokens: [1], tokens: [2], text: "", finishReason: "eos" as const, promptTooLong: false };
      },
    };
    return { seen, rollout };
  };
  const cfg = (chatTemplate: boolean): InTrainingConfig => ({
    eval: { suites: ["code"], limit: 1, data: null, format: "lcb", codePrompt: "evalplus", mathTemplate: "azr", maxNewTokens: 16, batchSize: 1 },
    prompt: { chatTemplate },
  });

  for (const evalplusChat of [true, false]) {
    it(`evalplusChat ${evalplusChat} gives the ${evalplusChat ? "chat" : "completion"} prompt whatever prompt.chatTemplate says`, async () => {
      const runDir = mkdtempSync(join(tmpdir(), "azr-in-training-"));
      const { seen, rollout } = capture();
      const e = new InTrainingEval(cfg(!evalplusChat), { rollout: rollout as never }, { runDir, workers: 1, benchmarks: benchmarksDir(), evalplusChat });
      try {
        await e.evaluate(1);
        assert.equal(seen.length, 2, "the first HumanEval+ and MBPP+ problems");
        for (const p of seen) assert.equal(p.kind, evalplusChat ? "chat" : "text");
      } finally {
        await e.close();
        rmSync(runDir, { recursive: true, force: true });
      }
    });
  }
});

describe("in-training evaluation uses the same token budgets as azr eval", () => {
  for (const [codePrompt, budget] of [["evalplus", 768], ["r1", 8096]] as const) {
    it(`a published recipe's eval settings: the ${codePrompt} code prompt gets its spec §10 budget (${budget}), as azr eval`, async () => {
      const budgets: number[] = [];
      const rollout = {
        async *generate(prompts: Prompt[], o: { maxNewTokens: number }) {
          budgets.push(o.maxNewTokens);
          for (const index of prompts.keys()) yield { index, promptTokens: [1], tokens: [2], text: "", finishReason: "eos" as const, promptTooLong: false };
        },
      };
      const runDir = mkdtempSync(join(tmpdir(), "azr-in-training-budget-"));
      const cfg: InTrainingConfig = { eval: { suites: ["code"], limit: 1, data: null, format: "lcb", codePrompt, mathTemplate: "azr", maxNewTokens: getRecipe("7b").eval.maxNewTokens, batchSize: 1 }, prompt: { chatTemplate: false } };
      const e = new InTrainingEval(cfg, { rollout: rollout as never }, { runDir, workers: 1, benchmarks: benchmarksDir(), evalplusChat: false });
      try {
        await e.evaluate(1);
        assert.deepEqual(budgets, [budget, budget], "the first HumanEval+ and MBPP+ problems");
      } finally {
        await e.close();
        rmSync(runDir, { recursive: true, force: true });
      }
    });
  }
});

describe("in-training evaluation of several files (eval.files): CruxEval and LiveCodeBench-Execution in one run", () => {
  it("each file's benchmarks get their own scores, answers checked by the run's executor", async () => {
    const fx = (name: string) => join(import.meta.dirname, "fixtures", name);
    const rollout = {
      async *generate(prompts: Prompt[]) {
        for (const index of prompts.keys()) yield { index, promptTokens: [1], tokens: [2], text: "<answer>3</answer>", finishReason: "eos" as const, promptTooLong: false };
      },
    };
    const executor = await CodeExecutor.start({ workers: 1, warn: () => {} });
    const runDir = mkdtempSync(join(tmpdir(), "azr-in-training-files-"));
    const cfg: InTrainingConfig = {
      eval: { suites: ["file"], limit: null, data: null, format: "cruxeval", files: [{ data: fx("cruxeval.jsonl"), format: "cruxeval" }, { data: fx("lcb-execution.jsonl"), format: "lcb" }], codePrompt: "r1", mathTemplate: "azr", maxNewTokens: 8, batchSize: 4 },
      prompt: { chatTemplate: false },
    };
    const e = new InTrainingEval(cfg, { rollout: rollout as never, executor }, { runDir, workers: 1, benchmarks: benchmarksDir() });
    try {
      const scores = await e.evaluate(1);
      assert.deepEqual(Object.keys(scores.benchmarks).sort(), ["cruxeval-i", "cruxeval-o", "lcb-execution"]);
      assert.deepEqual([scores.benchmarks["cruxeval-o"].n, scores.benchmarks["cruxeval-i"].n, scores.benchmarks["lcb-execution"].n], [2, 2, 2]);
      // "3" is the output of the fixture's text.count('a') on 'banana': one CruxEval-O task right
      assert.equal(scores.benchmarks["cruxeval-o"].correct, 1);
    } finally {
      await e.close();
      await executor.close();
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
