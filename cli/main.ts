/** The `azr` command (yargs). Each subcommand lives in cli/commands/ as a function over runtime + recipes. */
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { doctorCommand } from "./commands/doctor.ts";
import { selfplayCommand } from "./commands/selfplay.ts";
import { recipesCommand } from "./commands/recipes.ts";
import { baseModelCommand } from "./commands/base-model.ts";
import { exportCheckpointCommand, modelCommand } from "./commands/model.ts";
import { actorsCommand } from "./commands/actors.ts";
import { nodesCommand } from "./commands/nodes.ts";
import { killCommand } from "./commands/kill.ts";
import { restartCommand } from "./commands/restart.ts";
import { logsCommand } from "./commands/logs.ts";
import { topCommand } from "./commands/top.ts";
import { attachCommand } from "./commands/attach.ts";
import { webCommand } from "./commands/web.ts";
import { traceCommand } from "./commands/trace.ts";
import { evalCommand } from "./commands/eval.ts";
import { seedCommand } from "./commands/seed.ts";

/**
 * yargs turns `--out a --out b` into ["a", "b"] even for a one-value option, and the commands then
 * crashed deep inside (path.resolve of an array) or used the array as a name. Options declared as
 * arrays (--set) are meant to repeat; any other that arrives as an array is refused here. yargs
 * also keeps a camelCase copy of each dashed option (workDir beside work-dir): one is named. It exits
 * here, before any command starts: an error thrown from a middleware bypasses .fail() (a stack trace).
 */
function refuseRepeatedOptions(argv: Record<string, unknown>, y: { getOptions(): { array: string[] } }): void {
  const arrays = new Set(y.getOptions().array);
  const repeated = Object.keys(argv).filter((k) => k !== "_" && k !== "$0" && Array.isArray(argv[k]) && !arrays.has(k));
  const named = repeated.filter((k) => !/[A-Z]/.test(k) || !repeated.some((d) => d.includes("-") && d.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) === k));
  if (named.length === 0) return;
  const k = named[0];
  const flag = k.length === 1 ? `-${k}` : `--${k}`;
  const command = (argv._ as unknown[]).join(" ");
  console.error(`azr${command ? ` ${command}` : ""}: ${flag} was given ${(argv[k] as unknown[]).length} times (${(argv[k] as unknown[]).join(", ")}); it takes one value: give it once`);
  process.exit(2); // as the commands' own refusals of bad input
}

/**
 * yargs reads `--json=foo` for a boolean option as false, without a word: `azr doctor --json=foo`
 * printed text. A flag takes no value (true and false, yargs's own spellings, aside): refused here,
 * for every boolean option, from the arguments as typed (argv holds only the false).
 */
function refuseBooleanValues(argv: Record<string, unknown>, y: { getOptions(): { boolean: string[] } }): void {
  const booleans = new Set(y.getOptions().boolean);
  const args = hideBin(process.argv);
  const end = args.indexOf("--"); // what follows is not an option
  for (const arg of end < 0 ? args : args.slice(0, end)) {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (!m || !booleans.has(m[1]) || m[2] === "true" || m[2] === "false") continue;
    const command = (argv._ as unknown[]).join(" ");
    console.error(`azr${command ? ` ${command}` : ""}: --${m[1]} is a flag and takes no value (got ${arg}): give --${m[1]} alone, or leave it out`);
    process.exit(2); // as refuseRepeatedOptions
  }
}

/**
 * A reader that goes away before the output ends (`azr recipes | head -1`, a closed pager) makes
 * the next write fail with EPIPE, which Node raises as an unhandled 'error' event: a stack trace
 * for what is the normal end of a pipeline. Once, here, for every command: stop quietly, as Unix
 * tools do when their reader leaves (the exit code is the command's own so far, else 0). Any other
 * stdout error (a full disk behind `> file`) is still reported.
 */
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") {
    process.stderr.write(`azr: writing to stdout failed: ${e.message}\n`);
    process.exit(1);
  }
  process.exit();
});

/** An error's stack, then each cause's (`caused by: …`). */
function withCauses(e: unknown): string {
  const lines: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 5; c = (c as { cause?: unknown })?.cause, depth++) {
    lines.push((depth ? "caused by: " : "") + (c instanceof Error ? (c.stack ?? String(c)) : String(c)));
  }
  return lines.join("\n");
}

/** Errors .fail() below has printed: parseAsync rejects with them too. */
const reported = new WeakSet<object>();

await yargs(hideBin(process.argv))
  .scriptName("azr")
  .middleware(refuseRepeatedOptions as never)
  .middleware(refuseBooleanValues as never)
  .command(selfplayCommand)
  .command(doctorCommand)
  .command(recipesCommand)
  .command(baseModelCommand)
  .command(modelCommand)
  .command(exportCheckpointCommand)
  .command(actorsCommand)
  .command(nodesCommand)
  .command(killCommand)
  .command(restartCommand)
  .command(logsCommand)
  .command(topCommand)
  .command(attachCommand)
  .command(webCommand)
  .command(traceCommand)
  .command(evalCommand)
  .command(seedCommand)
  .demandCommand(1, "name a command; `azr --help` lists them")
  .strict()
  .help()
  .fail((message, error, y) => {
    process.exitCode = 1;
    if (error && typeof error === "object") reported.add(error);
    // A command that failed while running: its error and where, not the usage screen above it
    // (yargs's default), which buries the error and suggests the arguments were wrong.
    // Its cause too (e.g. the ActorDiedError behind a retry that gave up), which Node's uncaught printing used to add.
    if (error) return void console.error(withCauses(error));
    // A usage error (unknown option, missing argument): the usage, then what was wrong.
    y.showHelp();
    console.error(`\n${message}`);
  })
  .parseAsync()
  // yargs calls .fail() above for a command that threw and then rejects parseAsync with the same
  // error as well: left unhandled, Node printed it a second time as an uncaught exception (the
  // stack twice, then `triggerUncaughtException(`). .fail() has reported it and set the exit code;
  // anything it did not see is still reported here, once.
  .catch((e: unknown) => {
    if (typeof e === "object" && e !== null && reported.has(e)) return;
    process.exitCode = 1;
    console.error(withCauses(e));
  });
