/**
 * The shell's exit status for a process stopped by a signal, shared by every command that stops
 * cleanly on Ctrl-C / SIGTERM and still exits as the shell expects (scripts test for 130).
 */
import { constants } from "node:os";

/** 128 + the signal's number: SIGINT 130, SIGTERM 143, SIGHUP 129. */
export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (constants.signals[sig] ?? 2);
}
