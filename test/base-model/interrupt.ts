/** Runs `node <args>` (an `azr base-model` command line) and sends it SIGINT once its stdout matches `when`. */
import { spawn } from "node:child_process";

export async function interruptWhen(args: string[], when: RegExp): Promise<{ code: number | null; out: string }> {
  // the signal goes to this process alone (as `kill` would send it), not to a terminal's whole group
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let sent = false;
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
    if (!sent && when.test(out)) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  return { code, out };
}
