/**
 * Where this process stands for weight sync: the host identity two actors compare to decide
 * whether a file one writes is a file the other can open, and the folder shared-memory weight
 * files go to.
 *
 * Covers: the identity (host name, boot id, and the device of the shared-memory folder: two
 * containers on one machine with separate /dev/shm mounts differ, as they must, since neither
 * sees the other's files), the folder (/dev/shm, else os.tmpdir() with one logged note).
 * Not: the files themselves (files.ts).
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";

const SHM = "/dev/shm";
let root: string | undefined;
let identity: string | undefined;

/** /dev/shm when it is a writable folder (RAM-backed on Linux), else os.tmpdir(), said once through `log`. */
export function shmRoot(log: (line: string) => void = (s) => console.error(s)): string {
  if (root) return root;
  try {
    accessSync(SHM, constants.W_OK);
    if (statSync(SHM).isDirectory()) return (root = SHM);
  } catch {}
  root = tmpdir();
  log(`weight sync: ${SHM} is missing or not writable here, so weight files go to ${root} (disk-backed: slower); mount a tmpfs on ${SHM} for memory speed`);
  return root;
}

/** `<host name>/<boot id>/<device of the shm folder>`: equal only where a file one side writes is one the other side reads. */
export function hostIdentity(): string {
  if (identity) return identity;
  const boot = existsSync("/proc/sys/kernel/random/boot_id") ? readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() : "no-boot-id";
  const dev = statSync(shmRoot()).dev;
  return (identity = `${hostname()}/${boot}/${dev}`);
}
