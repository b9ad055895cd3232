/**
 * Where this process stands for weight sync: the host identity two actors compare to decide
 * whether a file one writes is a file the other can open, and the folder shared-memory weight
 * files go to.
 *
 * Covers: the identity (host name, boot id, and the device of the shared-memory folder: two
 * containers on one machine with separate /dev/shm mounts differ, as they must, since neither
 * sees the other's files), the folder (AZR_WEIGHTS_DIR, else /dev/shm, else os.tmpdir() with one logged note).
 * Not: the files themselves (files.ts).
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { resolve } from "node:path";

const SHM = "/dev/shm";
let root: string | undefined;
let identity: string | undefined;

/**
 * AZR_WEIGHTS_DIR when set (a folder every actor of the host sees, e.g. a bigger tmpfs or a fast
 * disk: /dev/shm is often small in containers), else /dev/shm when it is a writable folder
 * (RAM-backed on Linux), else os.tmpdir(), said once through `log`.
 */
export function shmRoot(log: (line: string) => void = (s) => console.error(s)): string {
  if (root) return root;
  const chosen = process.env.AZR_WEIGHTS_DIR;
  if (chosen) {
    // absolute: a file's path goes to the reader as written, and the reader's working folder may differ
    const dir = resolve(chosen);
    try {
      accessSync(dir, constants.W_OK);
      if (!statSync(dir).isDirectory()) throw new Error("it is not a folder");
    } catch (e) {
      throw new Error(`AZR_WEIGHTS_DIR=${chosen} is not a writable folder (${(e as Error).message}): create it, or unset AZR_WEIGHTS_DIR to use /dev/shm`, { cause: e });
    }
    return (root = dir);
  }
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
