/**
 * The shared-memory weight files of one run on one host: `<shm>/azr-weights-<run id>[-<role>][-<pid>-<n>]/`,
 * one safetensors file per published version.
 *
 * Covers: a reader never sees a partial file (written under a dot-name, renamed into place), the
 * previous versions removed once the reader confirmed a newer one, every file removed on
 * dispose and at process exit, and a crashed run's leftovers removed when the same run starts
 * again (same run id); the folder private to this user (0700, made not found: another user's or a
 * link under its name is refused, never emptied or written through). Not: what goes in a file (the engines write and read it).
 */
import { existsSync, lstatSync, statfsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { shmRoot } from "./host.ts";
import { processAlive } from "../../runtime/process-alive.ts";

/** A run id as a file-name part: letters, digits, `-` and `_` only. */
export function safeRunId(runId: string): string {
  const s = runId.replace(/[^A-Za-z0-9_-]/g, "_");
  if (!s) throw new Error("weight sync: the run id is empty; pass weightSync.runId (the CLI derives it from the run folder)");
  return s;
}

/** Folders this process must remove at exit (a SIGTERM'd actor exits through process.exit, which runs this). */
const live = new Set<string>();
process.once("exit", () => {
  for (const d of live) rmSync(d, { recursive: true, force: true });
});

let opened = 0;

/** `<base>-<pid>-<n>` folders whose process is gone (a crash skips dispose and the exit handler). */
function removeDeadProcessFolders(root: string, base: string, log?: (line: string) => void): void {
  const own = new RegExp(`^${base}-(\\d+)-\\d+$`);
  for (const name of existsSync(root) ? readdirSync(root) : []) {
    const pid = Number(own.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid) || !ours(lstatOf(join(root, name)))) continue; // another user's: not ours to judge
    rmSync(join(root, name), { recursive: true, force: true });
    log?.(`weight sync: removed ${join(root, name)}, left by process ${pid} of this run, which is gone`);
  }
}

function lstatOf(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** A real folder (not a link) owned by this process's user. */
function ours(st: Stats | undefined): boolean {
  return !!st && st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid());
}

export class WeightFiles {
  readonly dir: string;

  /**
   * Opens the run's folder, removing what a crashed incarnation of the same run left in it.
   * `perProcess`: a folder of this object's own (`-<pid>-<n>` appended), for roles of which a host
   * runs several at once — rollout replicas download into their reader folders concurrently, and a
   * shared folder would be wiped by the next replica's start under the first one's download. Such
   * folders of processes that no longer exist are the crashed leftovers removed here.
   */
  constructor(runId: string, role: string, log?: (line: string) => void, perProcess = false) {
    const base = `azr-weights-${safeRunId(runId)}${role ? `-${role}` : ""}`;
    const root = shmRoot(log);
    if (perProcess) removeDeadProcessFolders(root, base, log);
    this.dir = join(root, perProcess ? `${base}-${process.pid}-${++opened}` : base);
    const st = lstatOf(this.dir);
    if (st) {
      this.#refuseForeign(st);
      const stale = readdirSync(this.dir);
      rmSync(this.dir, { recursive: true, force: true });
      if (stale.length && log) log(`weight sync: removed ${stale.length} stale file(s) a previous start of this run left in ${this.dir}`);
    }
    this.#make();
    live.add(this.dir);
  }

  /**
   * The folder, private to this user (the root folder, /dev/shm, is shared by every user of the
   * machine: the default 0755 let any of them read each weight version), and made here, not found:
   * without `recursive`, a name someone created meanwhile (a link to elsewhere) fails instead of
   * being written through.
   */
  #make(): void {
    try {
      mkdirSync(this.dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      this.#refuseForeign(lstatOf(this.dir));
    }
  }

  /** An existing folder of this name that is not this user's own real folder is another's (or planted): neither emptied nor used. */
  #refuseForeign(st: Stats | undefined): void {
    if (!st || ours(st)) return;
    throw new Error(
      `weight sync: ${this.dir} exists and is ${st.isDirectory() ? `owned by uid ${st.uid}, not this process's ${process.getuid?.()}` : "not a folder (a link?)"}, ` +
        `so it is neither emptied nor written to: another user's run with the same run id, or planted there. Remove it, or set AZR_WEIGHTS_DIR to a folder of your own`,
    );
  }

  pathOf(version: number): string {
    return join(this.dir, `weights-v${version}.safetensors`);
  }

  /**
   * `write` fills a temporary file; it appears under its final name only once complete. Returns
   * the path and size. `forUpload`: a name of its own, so a published file of the same version stays.
   */
  async write(version: number, write: (tmp: string) => Promise<void>, forUpload = false): Promise<{ path: string; bytes: number }> {
    const path = forUpload ? join(this.dir, `.upload-v${version}-${randomBytes(4).toString("hex")}.safetensors`) : this.pathOf(version);
    const tmp = join(this.dir, `.weights-v${version}-${randomBytes(4).toString("hex")}.partial`);
    if (!existsSync(this.dir)) this.#make(); // removed under us (/dev/shm cleared): the next version still has somewhere to go
    try {
      await write(tmp);
      renameSync(tmp, path);
    } catch (e) {
      // the partial file, and whatever a writer of its own made of its name (the torch worker
      // writes <tmp>.tmp and renames it to <tmp>): left behind, it would keep a full folder full
      const name = basename(tmp);
      const partial = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => f.startsWith(name)).map((f) => join(this.dir, f)) : [];
      let written = 0;
      for (const f of partial) {
        try {
          written = Math.max(written, statSync(f).size);
        } catch {}
        rmSync(f, { force: true });
      }
      throw outOfRoom(e, this.dir, version, written) ?? e;
    }
    return { path, bytes: statSync(path).size };
  }

  /** A scratch file name in this folder (downloads land here before they are read). */
  scratch(version: number): string {
    return join(this.dir, `.download-v${version}-${randomBytes(4).toString("hex")}.partial`);
  }

  /** Removes the published version files for which `keep` says no (files being written, under dot-names, stay). */
  removeVersions(keep: (version: number) => boolean): void {
    if (!existsSync(this.dir)) return;
    for (const f of readdirSync(this.dir)) {
      const m = /^weights-v(\d+)\.safetensors$/.exec(f);
      if (m && !keep(Number(m[1]))) rmSync(join(this.dir, f), { force: true });
    }
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this.dir);
  }
}

/**
 * A write that ran out of room (ENOSPC from Node, or "No space left on device" from the torch
 * worker's Python) as an error saying where, how much, and what to change; undefined for any other error.
 */
export function outOfRoom(e: unknown, dir: string, version: number, written: number): Error | undefined {
  const text = e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}` : String(e);
  if (!/ENOSPC|No space left on device/.test(text)) return undefined;
  let free = "";
  try {
    const fs = statfsSync(dir);
    free = `, ${Math.round((fs.bavail * fs.bsize) / 2 ** 20)} MB free now`;
  } catch {
    // the folder is gone too: the size alone will do
  }
  return new Error(
    `weight sync: ${dir} ran out of room writing version ${version} (${Math.round(written / 2 ** 20)} MB written before it failed${free}). ` +
      `A version needs the model's size in that folder (twice while the previous one is still being read): enlarge it ` +
      `(docker run --shm-size=64g; mount -o remount,size=64G /dev/shm), or point AZR_WEIGHTS_DIR at a bigger folder every actor of this host sees`,
    { cause: e },
  );
}
