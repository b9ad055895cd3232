/**
 * `azr attach <actor>`: an interactive REPL inside the live actor's process (the instance is
 * `actor`; top-level await, tab completion, history; Ctrl-C cancels the line; Ctrl-D detaches
 * and the actor keeps running). `azr attach --shell <node>`: a terminal on that node's machine.
 * Both travel over the cluster's authenticated NATS connection. Covers: bridging the local
 * terminal (raw mode, resize) to the session. Not: the protocol (runtime/attach-*.ts).
 */
import type { CommandModule } from "yargs";
import { attach, type AttachSession } from "../../runtime/attach-client.ts";
import { withRun, withRunOptions, type RunArgs } from "./run-connection.ts";

export const attachCommand: CommandModule<object, RunArgs & { target: string; shell: boolean }> = {
  command: "attach <target>",
  describe: "open a REPL inside a live actor (or, with --shell, a terminal on a node)",
  builder: (y) =>
    withRunOptions(y)
      .positional("target", { type: "string", demandOption: true, describe: "the actor's name (`azr actors`), or with --shell a node id (`azr nodes`)" })
      .option("shell", { type: "boolean", default: false, describe: "open a shell on the node <target> instead of a REPL in an actor" }),
  handler: (a) =>
    withRun(a, async ({ cluster }) => {
      const stdin = process.stdin;
      const stdout = process.stdout;
      const session: AttachSession = await attach(cluster.nc, cluster.name, a.shell ? { kind: "node", id: a.target } : { kind: "actor", name: a.target }, {
        cols: stdout.columns ?? 80,
        rows: stdout.rows ?? 24,
        colors: stdout.isTTY ? stdout.hasColors() : false,
        term: process.env.TERM,
        onOutput: (d) => stdout.write(d),
      });
      // Raw mode: every key (Ctrl-C, Ctrl-D, Tab, arrows) goes to the remote terminal as typed.
      if (stdin.isTTY) stdin.setRawMode(true);
      const onData = (d: Buffer) => session.write(d);
      const onResize = () => session.resize(stdout.columns, stdout.rows);
      stdin.on("data", onData);
      stdin.once("end", () => void session.detach()); // piped input ran out
      stdout.on("resize", onResize);
      // With the TTY in raw mode Ctrl-C arrives as a byte, not a signal. A signal from elsewhere (SIGINT, `kill`'s
      // SIGTERM, SIGHUP when the terminal window closes) detaches: the remote session ends now rather than after the
      // server's idle timeout, and the local terminal leaves raw mode instead of being left unusable.
      const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
      const onSignal = () => void session.detach();
      for (const sig of signals) process.on(sig, onSignal);
      // A closed terminal makes writes fail (EIO/EPIPE); that must not crash the process before it has detached.
      const onWriteError = () => void session.detach();
      stdout.on("error", onWriteError);
      const reason = await session.ended;
      stdin.off("data", onData);
      stdout.off("resize", onResize);
      for (const sig of signals) process.off(sig, onSignal);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdout.off("error", onWriteError);
      process.stderr.on("error", () => {}); // the terminal may be gone (SIGHUP): the reason then has no reader
      process.stderr.write(`\r\n[azr attach: ${reason}]\r\n`);
    }),
};
